import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { beforeAll, describe, expect, it } from "vitest";
import { expectToolSnapshots, TOOL_NAMES, textOf, useFake } from "../harness.js";
import {
  assertBuilt,
  BIN,
  binEnv as envFor,
  INITIALIZE_REQUEST,
  rawSession,
} from "../spawn-bin.js";

const run = promisify(execFile);

beforeAll(assertBuilt);
const t = useFake();

const binEnv = (extra: Record<string, string | undefined> = {}) => envFor(t.fake, extra);

async function connectBin(env: Record<string, string>) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env,
    stderr: "pipe",
  });
  const stderr: string[] = [];
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const client = new Client({ name: "e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, stderr, transport };
}

describe("the built bin over stdio", () => {
  it("lists the tools and calls each one against the fake cloud", async () => {
    const { client } = await connectBin(binEnv());
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(TOOL_NAMES);
      // The bundle must show the same surface as the sources.
      await expectToolSnapshots(tools);

      const chat = (await client.callTool({
        name: "cloud_chat",
        arguments: { prompt: "hello", model: "gpt-oss:20b-cloud" },
      })) as CallToolResult;
      expect(chat.structuredContent).toMatchObject({ model: "gpt-oss:20b", answer: "echo: hello" });

      const search = (await client.callTool({
        name: "web_search",
        arguments: { query: "ollama", max_results: 2 },
      })) as CallToolResult;
      expect((search.structuredContent as { results: unknown[] }).results).toHaveLength(2);

      const summaries = (await client.callTool({
        name: "search_and_summarize",
        arguments: { query: "ollama", max_results: 2 },
      })) as CallToolResult;
      expect(summaries.isError).toBeFalsy();
      expect((summaries.structuredContent as { sources: unknown[] }).sources).toHaveLength(2);

      const page = (await client.callTool({
        name: "web_fetch",
        arguments: { url: "https://ollama.com" },
      })) as CallToolResult;
      expect(page.structuredContent).toMatchObject({ title: "Page at https://ollama.com" });

      const models = (await client.callTool({
        name: "list_models",
        arguments: {},
      })) as CallToolResult;
      expect((models.structuredContent as { models: unknown[] }).models).toHaveLength(5);

      const answer = (await client.callTool({
        name: "research",
        arguments: { question: "What is Ollama?" },
      })) as CallToolResult;
      expect(answer.structuredContent).toMatchObject({ stopped_by: "answer" });

      const usage = (await client.callTool({
        name: "cloud_usage",
        arguments: { range: "24h" },
      })) as CallToolResult;
      expect(usage.structuredContent).toMatchObject({
        balance: { included: { balance_usd: 72.5 } },
        usage: { range: "24h", granularity: "hour" },
      });
      expect(textOf(usage)).toMatch(/^Credits: \$72\.50 of \$100\.00 included left/);
    } finally {
      await client.close();
    }
  });

  it("starts without a key, lists tools, and explains how to set one", async () => {
    const { client, stderr } = await connectBin(binEnv({ OLLAMA_API_KEY: undefined }));
    try {
      expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
      const result = (await client.callTool({
        name: "web_search",
        arguments: { query: "x" },
      })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/OLLAMA_API_KEY is not set.*ollama.com\/settings\/keys/);
      expect(t.fake.requests).toHaveLength(0);
      expect(stderr.join("")).toMatch(/OLLAMA_API_KEY is not set/);
    } finally {
      await client.close();
    }
  });

  it("writes nothing but JSON-RPC to stdout, through failures, and never shows the key", async () => {
    const canaryKey = "sk-canary-2f9d81";
    t.fake.apiKey = canaryKey;
    t.fake.inject("chat", {
      status: 502,
      body: "<html>Bad Gateway</html>",
      contentType: "text/html",
    });
    t.fake.inject("web_search", { status: 500, body: "plain text failure" });
    t.fake.inject("chat", { malformed: "garbage line\n", contentType: "application/x-ndjson" });

    const child = spawn(process.execPath, [BIN], {
      env: binEnv({ OLLAMA_API_KEY: `Bearer ${canaryKey}` }),
    });
    const session = rawSession(child, { record: true });
    await session.request("initialize", INITIALIZE_REQUEST.params);
    session.notify("notifications/initialized");
    await session.request("tools/list", {});
    const calls = [
      { name: "cloud_chat", arguments: { prompt: "x" } },
      { name: "web_search", arguments: { query: "x" } },
      { name: "cloud_chat", arguments: { prompt: "x" } },
      { name: "cloud_chat", arguments: { prompt: "" } },
      { name: "cloud_chat", arguments: { prompt: "fine" } },
    ];
    const results = [];
    for (const params of calls) results.push(await session.request("tools/call", params));
    const code = await session.close();

    expect(code).toBe(0);
    expect(results.map((r) => (r as { result: CallToolResult }).result.isError ?? false)).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    const lines = session.stdout().split("\n").filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(7);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    expect(session.stdout()).not.toContain(canaryKey);
    expect(session.stderr()).not.toContain(canaryKey);
    expect(session.stderr()).not.toContain("garbage line");
  });

  it("prints help with every setting, and the version", async () => {
    const help = await run(process.execPath, [BIN, "--help"]);
    for (const name of [
      "OLLAMA_API_KEY",
      "OLLAMA_CLOUD_HOST",
      "--cloud-host",
      "OLLAMA_CLOUD_MODEL",
      "--model",
      "gpt-oss:120b",
      "https://ollama.com",
    ]) {
      expect(help.stdout).toContain(name);
    }
    const version = await run(process.execPath, [BIN, "--version"]);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("refuses to start on bad configuration, saying why, without echoing the key", async () => {
    const failure = await run(process.execPath, [BIN], {
      env: binEnv({ OLLAMA_API_KEY: "sk-canary-77", OLLAMA_CLOUD_HOST: "http://proxy.example" }),
    }).catch((error: { code: number; stderr: string; stdout: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    const { stderr, stdout } = failure as { stderr: string; stdout: string };
    expect(stderr).toMatch(/Refusing to send OLLAMA_API_KEY over plain http:\/\/ to proxy.example/);
    expect(stderr + stdout).not.toContain("sk-canary-77");

    const badVia = await run(process.execPath, [BIN], {
      env: binEnv({ OLLAMA_CLOUD_VIA: "proxy" }),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(badVia).toMatchObject({ code: 2 });
    expect((badVia as { stderr: string }).stderr).toMatch(
      /OLLAMA_CLOUD_VIA \(--cloud-via\) must be direct, local or auto/,
    );

    const unknownTool = await run(process.execPath, [BIN, "--tools", "web_search,reserch"], {
      env: binEnv(),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(unknownTool).toMatchObject({ code: 2 });
    expect((unknownTool as { stderr: string }).stderr).toMatch(
      /names "reserch", which this server does not have; the tools are: cloud_chat, web_search/,
    );

    const unknownFlag = await run(process.execPath, [BIN, "--modle", "x"]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(unknownFlag).toMatchObject({ code: 2 });
    expect((unknownFlag as { stderr: string }).stderr).toMatch(/--modle.*--help/s);
  });
});

describe("nothing but the protocol leaves the bin, at every log level", () => {
  const CANARY = "CANARY-9c41";
  it.each(["debug", "info", "warning", "error", "off"])(
    "log level %s: no prompt, page, model output or upstream text on stderr or stdout",
    async (level) => {
      const faults = [
        () =>
          t.fake.inject("chat", {
            malformed: `${CANARY} not json\n`,
            contentType: "application/x-ndjson",
          }),
        () => t.fake.inject("chat", { streamErrorAfter: 1, message: `${CANARY}-stream-error` }),
        () => t.fake.inject("chat", { status: 500, body: { error: `${CANARY}-json-error` } }),
        () => t.fake.inject("chat", { status: 500, body: `${CANARY}-text-error` }),
        () => t.fake.inject("chat", { cutAfter: 1 }),
        () =>
          t.fake.inject("chat", {
            badLineAfter: 1,
            line: `${CANARY} bad line`,
            contentType: "application/json",
          }),
        () => t.fake.inject("web_search", { malformed: `${CANARY} <html>` }),
      ];
      const child = spawn(process.execPath, [BIN], {
        env: binEnv({ OLLAMA_MCP_LOG_LEVEL: level }),
      });
      const session = rawSession(child, { record: true });
      await session.request("initialize", INITIALIZE_REQUEST.params);
      session.notify("notifications/initialized");
      const results: CallToolResult[] = [];
      for (const inject of faults) {
        inject();
        const params =
          inject === faults.at(-1)
            ? { name: "web_search", arguments: { query: `${CANARY} query` } }
            : {
                name: "cloud_chat",
                arguments: { prompt: `${CANARY} prompt that streams in chunks` },
              };
        results.push(
          ((await session.request("tools/call", params)) as { result: CallToolResult }).result,
        );
      }
      expect(await session.close()).toBe(0);
      expect(results.map((r) => r.isError)).toEqual(faults.map(() => true));
      expect(session.stderr()).not.toContain(CANARY);
      // On stdout, the canary may only appear inside the tool results that quote the service.
      for (const line of session.stdout().split("\n").filter(Boolean)) {
        const message = JSON.parse(line) as { result?: unknown };
        if (!message.result) expect(line).not.toContain(CANARY);
      }
    },
  );
});
