import type { CallToolResult, FetchLike } from "@modelcontextprotocol/client";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChatRequestBody } from "../fake-ollama-cloud.js";
import { textOf, until } from "../harness.js";
import { freePort } from "../loopback-server.js";
import { configFor, loopbackCertificate, NginxServer, tempDir } from "../nginx-server.js";
import { connectSignedIn, SignInWithKey } from "../oauth-client.js";
import { RedisServer } from "../redis-server.js";
import type { HttpBin } from "../spawn-bin.js";
import { useHttpBins } from "./http-harness.js";

const TOKEN = "nginx-token-5c2e8f0a";
const DEFER_MS = 400;
const LEASE_MS = 1_200;
/** Each instance has a key of its own, so the fake can tell which one sent a request. */
const KEYS = ["fake-key-instance-a1", "fake-key-instance-b2", "fake-key-instance-c3"];

const t = useHttpBins();
const available = RedisServer.available() && NginxServer.available();
let redis: RedisServer;
let tls: { certificate: string; key: string; ca: string };
let agent: Agent;
const open: { nginx?: NginxServer; clients: Client[] } = { clients: [] };

beforeAll(async () => {
  if (!available) return;
  // Persistent, as a store of results should be: a restart keeps what was written.
  redis = await RedisServer.start(["--appendonly", "yes", "--appendfsync", "always"]);
  tls = loopbackCertificate(tempDir("tls"));
  agent = new Agent({ connect: { ca: tls.ca } });
});
afterEach(async () => {
  await Promise.all(open.clients.splice(0).map((c) => c.close().catch(() => {})));
  await open.nginx?.stop();
  open.nginx = undefined;
});
afterAll(async () => {
  await agent?.close();
  await redis?.close();
});

/**
 * Three --stateless instances on one Redis, behind deploy/nginx.conf with TLS; with `oauth`,
 * users sign in with their own key (MCP_HTTP_AUTH=oauth) instead of the instances' keys.
 */
async function site({ oauth = false } = {}): Promise<{ bins: HttpBin[]; url: string }> {
  t.fake.otherKeys = KEYS;
  const port = await freePort();
  const auth = (key: string) =>
    oauth
      ? {
          OLLAMA_API_KEY: undefined,
          MCP_HTTP_AUTH: "oauth",
          MCP_PUBLIC_URL: `https://127.0.0.1:${port}`,
          MCP_OAUTH_SECRET: "nginx-oauth-secret-of-more-than-32-bytes-1f",
        }
      : { OLLAMA_API_KEY: key, MCP_HTTP_TOKEN: TOKEN };
  const bins = await Promise.all(
    KEYS.map((key) =>
      t.start(["--stateless"], {
        ...auth(key),
        OLLAMA_MCP_STORE: redis.url,
        OLLAMA_MCP_DEFER_AFTER_MS: String(DEFER_MS),
        OLLAMA_MCP_JOB_LEASE_MS: String(LEASE_MS),
      }),
    ),
  );
  const config = configFor({
    upstreams: bins.map((bin) => bin.bound),
    port,
    certificate: tls.certificate,
    key: tls.key,
  });
  open.nginx = await NginxServer.start(config, port, tempDir("nginx"));
  return { bins, url: `https://127.0.0.1:${port}/mcp` };
}

const tlsFetch: FetchLike = (url, init) =>
  undiciFetch(url, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response>;

async function client(url: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    fetch: tlsFetch,
  });
  const mcp = new Client({ name: "through-nginx", version: "1.0.0" });
  await mcp.connect(transport);
  open.clients.push(mcp);
  return mcp;
}

const call = async (mcp: Client, name: string, args: Record<string, unknown>) =>
  (await mcp.callTool({ name, arguments: args })) as CallToolResult;
const structured = (result: CallToolResult) =>
  (result.structuredContent ?? {}) as Record<string, unknown>;

/** Which instance sent the chat whose last message is `prompt`, by the key it used. */
function instanceThatRan(prompt: string): number {
  const request = t.fake
    .requestsTo("/api/chat")
    .find((r) => (r.body as ChatRequestBody).messages.at(-1)?.content === prompt);
  return KEYS.findIndex((key) => request?.headers.authorization === `Bearer ${key}`);
}

/** get_result until the job has ended: past "running", and past a store that is not back yet. */
async function resultOf(mcp: Client, jobId: string): Promise<CallToolResult> {
  let result: CallToolResult | undefined;
  await until(async () => {
    result = await call(mcp, "get_result", { job_id: jobId });
    const storeAway = /^The job store .* cannot be reached right now/.test(textOf(result));
    return structured(result).status !== "running" && !storeAway;
  });
  return result as CallToolResult;
}

describe.skipIf(!available)("behind nginx: round robin over three instances on one Redis", () => {
  it("finishes a deferred research started through nginx with get_result through nginx", async () => {
    const { url } = await site();
    t.fake.latency.chat = 600;
    t.fake.chatResponder = (request) =>
      request.messages.some((m) => m.role === "tool")
        ? { content: "Any instance can answer [1]." }
        : {
            content: "",
            tool_calls: [{ function: { name: "web_search", arguments: { query: "nginx" } } }],
          };
    const mcp = await client(url);
    const running = structured(await call(mcp, "research", { question: "Who answers?" }));
    expect(running).toMatchObject({ status: "running", job_id: expect.stringMatching(/^job_/) });
    const done = await resultOf(mcp, running.job_id as string);
    expect(structured(done)).toMatchObject({
      status: "done",
      answer: "Any instance can answer [1].",
    });
  });

  it("continues a conversation over three turns, each on a different instance", async () => {
    const { url } = await site();
    const mcp = await client(url);
    const first = structured(await call(mcp, "cloud_chat", { prompt: "turn one" }));
    const id = first.conversation_id as string;
    await call(mcp, "cloud_chat", { prompt: "turn two", conversation_id: id });
    const third = await call(mcp, "cloud_chat", { prompt: "turn three", conversation_id: id });
    expect(structured(third)).toMatchObject({ conversation_id: id });
    const last = t.fake.requestsTo("/api/chat").at(-1)?.body as ChatRequestBody;
    expect(last.messages.map((m) => m.content)).toEqual([
      "turn one",
      "echo: turn one",
      "turn two",
      "echo: turn two",
      "turn three",
    ]);
    const ran = ["turn one", "turn two", "turn three"].map(instanceThatRan);
    expect(new Set(ran).size).toBe(3);
  });

  it("reports the jobs of two killed instances lost within a few lease periods, while the third's finish", async () => {
    const { bins, url } = await site();
    t.fake.latency.chat = 3_000;
    const mcp = await client(url);
    const prompts = ["job one", "job two", "job three"];
    const jobs: string[] = [];
    for (const prompt of prompts) {
      const running = structured(await call(mcp, "cloud_chat", { prompt }));
      expect(running.status).toBe("running");
      jobs.push(running.job_id as string);
    }
    await until(() => t.fake.requestsTo("/api/chat").length === 3);
    const ranOn = prompts.map(instanceThatRan);
    expect(new Set(ranOn).size).toBe(3);
    const survivor = ranOn[0] as number;
    const killedAt = Date.now();
    const killed = bins.filter((_, i) => i !== survivor);
    for (const bin of killed) bin.child.kill("SIGKILL");
    await Promise.all(killed.map((bin) => bin.exited));
    const results = await Promise.all(jobs.map((job) => resultOf(mcp, job)));
    expect(structured(results[0] as CallToolResult)).toMatchObject({
      status: "done",
      answer: "echo: job one",
    });
    for (const lost of results.slice(1)) {
      expect(textOf(lost)).toMatch(/was lost: the server running it stopped before it finished/);
    }
    expect(Date.now() - killedAt).toBeLessThan(4 * LEASE_MS + 3_000);
  });

  it("signs a user in with OAuth through nginx, and every instance honours the sign-in", async () => {
    const { url } = await site({ oauth: true });
    const user = new SignInWithKey(KEYS[1] as string, tlsFetch);
    const { client: mcp } = await connectSignedIn(url, user, tlsFetch);
    open.clients.push(mcp);
    for (const query of ["one", "two", "three"]) {
      const result = await call(mcp, "web_search", { query });
      expect(result.isError, textOf(result)).toBeFalsy();
    }
    const searches = t.fake.requestsTo("/api/web_search");
    expect(searches.map((r) => r.headers.authorization)).toEqual(
      Array(3).fill(`Bearer ${KEYS[1]}`),
    );
    expect(user.signIns).toBe(1);
  });

  it("loses no finished result when Redis restarts, nor one that finished while it was down", async () => {
    const { url } = await site();
    const mcp = await client(url);
    t.fake.latency.chat = 800;
    const before = structured(await call(mcp, "cloud_chat", { prompt: "written before" }));
    expect(structured(await resultOf(mcp, before.job_id as string))).toMatchObject({
      status: "done",
    });
    t.fake.latency.chat = 1_500;
    const during = structured(await call(mcp, "cloud_chat", { prompt: "finished during" }));
    expect(during.status).toBe("running");
    await redis.stop();
    await until(() => t.fake.requestsTo("/api/chat").length === 2);
    await t.fake.requestsTo("/api/chat")[1]?.closed;
    await redis.restart();
    for (const [job, answer] of [
      [before.job_id, "echo: written before"],
      [during.job_id, "echo: finished during"],
    ]) {
      expect(structured(await resultOf(mcp, job as string))).toMatchObject({
        status: "done",
        answer,
      });
    }
  });
});
