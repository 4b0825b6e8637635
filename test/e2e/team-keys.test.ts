import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { describe, expect, it } from "vitest";
import type { ChatRequestBody } from "../fake-ollama-cloud.js";
import { textOf } from "../harness.js";
import { RedisServer } from "../redis-server.js";
import { BIN, binEnv, type HttpBin, INITIALIZE_REQUEST } from "../spawn-bin.js";
import { useHttpBins } from "./http-harness.js";

const run = promisify(execFile);
const ALPHA = "ollama-key-alpha-3f9c21";
const BRAVO = "ollama-key-bravo-7d1e54";

const t = useHttpBins();

/** A team server: no key of its own; each caller's bearer token is its Ollama key. */
function teamServer(env: Record<string, string> = {}, args: string[] = []): Promise<HttpBin> {
  t.fake.apiKey = ALPHA;
  t.fake.otherKeys = [BRAVO];
  return t.start(args, {
    OLLAMA_API_KEY: undefined,
    MCP_HTTP_KEYS: "client",
    OLLAMA_MCP_DEFER_AFTER_MS: "300",
    OLLAMA_SEARCH_CACHE_TTL_MS: "60000",
    ...env,
  });
}

const member = (bin: HttpBin, key: string) => t.client(bin.url, { authorization: `Bearer ${key}` });

const call = async (client: Client, name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

/** get_result until the job is no longer running: one wait may end just before the job does. */
async function finished(client: Client, jobId: string): Promise<CallToolResult> {
  for (;;) {
    const result = await call(client, "get_result", { job_id: jobId });
    if ((result.structuredContent as { status?: string } | undefined)?.status !== "running") {
      return result;
    }
  }
}

/** Research: one search for the question (which carries the caller's word), then an answer. */
function researchAndEcho(request: ChatRequestBody) {
  if (request.tools && !request.messages.some((m) => m.role === "tool")) {
    const question = request.messages.find((m) => m.role === "user")?.content ?? "";
    return {
      content: "",
      tool_calls: [
        { function: { name: "web_search", arguments: { query: question, max_results: 2 } } },
      ],
    };
  }
  return { content: `echo: ${request.messages.at(-1)?.content.slice(0, 80) ?? ""}` };
}

describe("one HTTP server for a team, each member on their own Ollama key", () => {
  it("sends every request upstream with its own caller's key, in every tool, deferred jobs included", async () => {
    const bin = await teamServer();
    t.fake.chatResponder = researchAndEcho;
    const work = async (key: string, word: string) => {
      const { client } = await member(bin, key);
      await call(client, "cloud_chat", { prompt: `${word} chat` });
      await call(client, "web_search", { query: `${word} search` });
      await call(client, "search_and_summarize", { query: `${word} summaries`, max_results: 2 });
      await call(client, "research", { question: `${word} research` });
      await call(client, "consensus", {
        prompt: `${word} consensus`,
        models: ["gpt-oss:120b", "gpt-oss:20b"],
      });
      t.fake.latency.chat = 600;
      const deferred = (await call(client, "cloud_chat", { prompt: `${word} deferred` }))
        .structuredContent as {
        status: string;
        job_id: string;
      };
      expect(deferred.status).toBe("running");
      expect((await finished(client, deferred.job_id)).structuredContent).toMatchObject({
        status: "done",
        answer: `echo: ${word} deferred`,
      });
    };
    await Promise.all([work(ALPHA, "alpha"), work(BRAVO, "bravo")]);
    const requests = t.fake.requests.filter((r) => r.path.startsWith("/api/"));
    expect(requests.length).toBeGreaterThan(20);
    for (const request of requests) {
      // A GET (the model list) has no body, and no word to tell whose it is.
      const text = JSON.stringify(request.body) ?? "";
      const word = text.includes("alpha") ? "alpha" : text.includes("bravo") ? "bravo" : undefined;
      if (!word) continue;
      expect(request.headers.authorization, `${request.path} ${text.slice(0, 120)}`).toBe(
        `Bearer ${word === "alpha" ? ALPHA : BRAVO}`,
      );
    }
    expect(bin.stderr()).not.toContain(ALPHA);
    expect(bin.stderr()).not.toContain(BRAVO);
  });

  it("shares nothing between callers: search cache, jobs, conversations and sessions", async () => {
    const bin = await teamServer();
    const alpha = await member(bin, ALPHA);
    const bravo = await member(bin, BRAVO);
    await call(alpha.client, "web_search", { query: "the same question" });
    await call(alpha.client, "web_search", { query: "the same question" });
    await call(bravo.client, "web_search", { query: "the same question" });
    expect(t.fake.requestsTo("/api/web_search").map((r) => r.headers.authorization)).toEqual([
      `Bearer ${ALPHA}`,
      `Bearer ${BRAVO}`,
    ]);
    t.fake.inject("chat", { hang: true });
    const deferred = await call(alpha.client, "cloud_chat", { prompt: "alpha's job" });
    const job = deferred.structuredContent as { job_id: string };
    expect(job?.job_id, textOf(deferred)).toMatch(/^job_/);
    expect(
      textOf(await call(bravo.client, "get_result", { job_id: job.job_id, wait_ms: 0 })),
    ).toMatch(/^Unknown job_id/);
    expect(textOf(await call(bravo.client, "cancel_job", { job_id: job.job_id }))).toMatch(
      /^Unknown job_id/,
    );
    await call(alpha.client, "cancel_job", { job_id: job.job_id });
    const chat = (await call(alpha.client, "cloud_chat", { prompt: "alpha's secret" }))
      .structuredContent as {
      conversation_id: string;
    };
    const stolen = await call(bravo.client, "cloud_chat", {
      prompt: "go on",
      conversation_id: chat.conversation_id,
    });
    expect(textOf(stolen)).toMatch(/^Unknown conversation_id/);
    const sessionOfAlpha = alpha.transport.sessionId as string;
    const hijack = await fetch(bin.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${BRAVO}`,
        "mcp-session-id": sessionOfAlpha,
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }),
    });
    expect(hijack.status).toBe(404);
  });

  it("caps sessions per caller, so one member cannot take them all", async () => {
    const bin = await teamServer({}, ["--max-sessions-per-client", "1"]);
    await member(bin, ALPHA);
    await expect(member(bin, ALPHA)).rejects.toThrow(/503|Too many sessions for this client/);
    await member(bin, BRAVO);
  });

  it("answers a request without a key with 401 and what to send", async () => {
    const bin = await teamServer();
    const response = await fetch(bin.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify(INITIALIZE_REQUEST),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(
      /Send your Ollama API key \(https:\/\/ollama\.com\/settings\/keys\) as a bearer token/,
    );
    expect(body.error.message).toMatch(
      /"headers": \{ "Authorization": "Bearer <your Ollama API key>" \}/,
    );
  });

  it("says a key the cloud refuses is the caller's to check", async () => {
    const bin = await teamServer();
    const { client } = await member(bin, "ollama-key-revoked-000000");
    const result = await call(client, "web_search", { query: "q" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /^Ollama's cloud rejected the API key \(401: unauthorized\)\. Check the Ollama API key your MCP client sends as its bearer token/,
    );
    expect(textOf(result)).not.toContain("ollama-key-revoked-000000");
  });

  it("runs on any address without a token, each caller authenticating upstream", async () => {
    const bin = await teamServer({}, ["--host", "0.0.0.0"]);
    expect(bin.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/mcp$/);
  });

  it.each([
    [{ OLLAMA_API_KEY: "server-key-123456" }, ["--http"], /unset OLLAMA_API_KEY/],
    [{ MCP_HTTP_TOKEN: "token-1234567890abcdef" }, ["--http"], /MCP_HTTP_TOKEN cannot be set too/],
    [
      { OLLAMA_MODE: "hybrid" },
      ["--http"],
      /works with Ollama's cloud only, and OLLAMA_MODE is hybrid/,
    ],
    [
      { OLLAMA_MODE: "local" },
      ["--http"],
      /OLLAMA_MODE is local: a local Ollama has its own sign-in/,
    ],
    [{}, [], /is for --http: over stdio there is no caller to bring a key/],
  ])("refuses to start with client keys and %j %j", async (env, args, message) => {
    const failure = await run(process.execPath, [BIN, ...args, "--port", "0"], {
      env: binEnv(t.fake, { OLLAMA_API_KEY: undefined, MCP_HTTP_KEYS: "client", ...env }),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toMatch(message);
  });

  it.skipIf(!RedisServer.available())("never writes a caller's key to a shared store", async () => {
    const redis = await RedisServer.start();
    try {
      const bin = await teamServer({ OLLAMA_MCP_STORE: redis.url });
      const { client } = await member(bin, ALPHA);
      t.fake.latency.chat = 600;
      const job = (await call(client, "cloud_chat", { prompt: "deferred on redis" }))
        .structuredContent as {
        job_id: string;
      };
      expect((await finished(client, job.job_id)).structuredContent).toMatchObject({
        status: "done",
      });
      const stored = JSON.stringify(await redis.contents());
      expect(stored).toContain("deferred on redis");
      expect(stored).not.toContain(ALPHA);
    } finally {
      await redis.close();
    }
  });
});
