import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  Client,
  type FetchLike,
  type Progress,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { textOf, until } from "../harness.js";
import { RedisServer } from "../redis-server.js";
import { assertBuilt, BIN, binEnv } from "../spawn-bin.js";
import { testTools, type V1Client, type V1Sdk, v1Sdk } from "../test-tools.js";
import { MCP_HEADERS, useHttpBins } from "./http-harness.js";

const MODERN = "2026-07-28";
const runFile = promisify(execFile);

const t = useHttpBins();
const closers: (() => Promise<unknown>)[] = [];
beforeAll(assertBuilt);
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close().catch(() => {})));
});

function modernClient(): Client {
  const client = new Client(
    { name: "eras-e2e", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  closers.push(() => client.close());
  return client;
}

let V1: V1Sdk;
beforeAll(async () => {
  V1 = await v1Sdk();
}, 300_000);

function v1Client(): V1Client {
  const client = new V1.Client({ name: "eras-e2e-v1", version: "1.0.0" });
  closers.push(() => client.close());
  return client;
}

/** A 2026-07-28 request written by hand, for what the SDK's client hides: headers and envelope. */
async function modernPost(
  url: string,
  method: string,
  params: Record<string, unknown>,
  envelope: Record<string, unknown> = {},
): Promise<{ status: number; headers: Headers; messages: Record<string, unknown>[] }> {
  const name: Record<string, string> =
    typeof params.name === "string" ? { "mcp-name": params.name } : {};
  const response = await fetch(url, {
    method: "POST",
    headers: {
      ...MCP_HEADERS,
      "mcp-protocol-version": MODERN,
      "mcp-method": method,
      ...name,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method,
      params: {
        ...params,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": MODERN,
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          ...envelope,
        },
      },
    }),
  });
  const text = await response.text();
  const messages = (response.headers.get("content-type") ?? "").includes("text/event-stream")
    ? text
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => JSON.parse(line.slice(6)))
    : [JSON.parse(text)];
  return { status: response.status, headers: response.headers, messages };
}

/** The built bin as a stdio client starts it; its log lines stay out of the test output. */
function binOverStdio() {
  return { command: process.execPath, args: [BIN], env: binEnv(t.fake), stderr: "ignore" as const };
}

describe("over stdio", () => {
  it("serves a 2026-07-28 client (the SDK's, negotiating) and lists and calls tools", async () => {
    const client = modernClient();
    await client.connect(new StdioClientTransport(binOverStdio()));
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect((await client.listTools()).tools).toHaveLength(10);
    const result = await client.callTool({ name: "web_search", arguments: { query: "q" } });
    expect(result.isError).toBeFalsy();
    expect(t.fake.requestsTo("/api/web_search")).toHaveLength(1);
  });

  it("serves a 2025 client (the v1 SDK's) with initialize at 2025-11-25", async () => {
    const client = v1Client();
    await client.connect(new V1.StdioClientTransport(binOverStdio()));
    expect(client.getServerVersion()?.name).toBe("ollama-cloud-mcp");
    expect((await client.listTools()).tools).toHaveLength(10);
    const result = await client.callTool({ name: "web_search", arguments: { query: "q" } });
    expect(result.isError).toBeFalsy();
  });

  it("reports progress to a 2026-07-28 client that asks for it", async () => {
    const client = modernClient();
    await client.connect(new StdioClientTransport(binOverStdio()));
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    const progress: Progress[] = [];
    await client.callTool(
      { name: "search_and_summarize", arguments: { query: "q" } },
      { onprogress: (p) => progress.push(p) },
    );
    expect(progress.length).toBeGreaterThan(0);
  });
});

describe("over HTTP", () => {
  it("answers a 2026-07-28 client without a session, and a 2025 client with one", async () => {
    const bin = await t.start();
    const modern = modernClient();
    const modernTransport = new StreamableHTTPClientTransport(new URL(bin.url));
    await modern.connect(modernTransport);
    expect(modern.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect(modernTransport.sessionId).toBeUndefined();
    expect((await modern.listTools()).tools).toHaveLength(10);

    const legacy = v1Client();
    const legacyTransport = new V1.StreamableHTTPClientTransport(new URL(bin.url));
    await legacy.connect(legacyTransport);
    expect(legacyTransport.sessionId).toBeTruthy();
    expect(legacyTransport.protocolVersion).toBe("2025-11-25");
    const result = await legacy.callTool({ name: "web_search", arguments: { query: "q" } });
    expect(result.isError).toBeFalsy();
  });

  it("lets any instance answer a 2026-07-28 request: no stickiness behind round robin", async () => {
    const [a, b] = await Promise.all([t.start(), t.start()]);
    const served: string[] = [];
    let turn = 0;
    // A round-robin balancer in front of two instances, one request each in turn.
    const roundRobin: FetchLike = (url, init) => {
      const target = new URL(String(url));
      const to = new URL((turn++ % 2 === 0 ? a : b).url);
      target.host = to.host;
      served.push(to.host);
      return fetch(target, init);
    };
    const client = modernClient();
    await client.connect(new StreamableHTTPClientTransport(new URL(a.url), { fetch: roundRobin }));
    for (const query of ["one", "two", "three", "four"]) {
      const result = await client.callTool({ name: "web_search", arguments: { query } });
      expect(result.isError, textOf(result as never)).toBeFalsy();
    }
    expect(new Set(served)).toEqual(new Set([new URL(a.url).host, new URL(b.url).host]));
  });

  it("says tools/list may be cached, and for how long, to 2026-07-28 clients", async () => {
    const bin = await t.start();
    const { status, messages } = await modernPost(bin.url, "tools/list", {});
    expect(status).toBe(200);
    expect(messages[0]?.result).toMatchObject({ ttlMs: 600_000, cacheScope: "public" });
  });

  it("sends a 2026-07-28 request log lines only at the level it asked for", async () => {
    const bin = await t.start();
    const silent = await modernPost(bin.url, "tools/call", {
      name: "web_search",
      arguments: { query: "q" },
    });
    expect(silent.messages.map((m) => m.method ?? "result")).toEqual(["result"]);
    const debug = await modernPost(
      bin.url,
      "tools/call",
      { name: "web_search", arguments: { query: "q" } },
      { "io.modelcontextprotocol/logLevel": "debug" },
    );
    const logs = debug.messages.filter((m) => m.method === "notifications/message");
    expect(logs.length).toBeGreaterThan(0);
    const warningsOnly = await modernPost(
      bin.url,
      "tools/call",
      { name: "web_search", arguments: { query: "q" } },
      { "io.modelcontextprotocol/logLevel": "warning" },
    );
    expect(warningsOnly.messages.filter((m) => m.method === "notifications/message")).toEqual([]);
  });

  it("reports progress in both eras", async () => {
    const bin = await t.start();
    const eras: string[] = [];
    for (const client of [modernClient(), new Client({ name: "legacy", version: "1" })]) {
      closers.push(() => client.close());
      await client.connect(new StreamableHTTPClientTransport(new URL(bin.url)));
      eras.push(client.getNegotiatedProtocolVersion() ?? "");
      const progress: Progress[] = [];
      await client.callTool(
        { name: "search_and_summarize", arguments: { query: "q" } },
        { onprogress: (p) => progress.push(p) },
      );
      expect(progress.length, client.getNegotiatedProtocolVersion()).toBeGreaterThan(0);
    }
    expect(eras).toEqual([MODERN, "2025-11-25"]);
  });

  it("frees the request to Ollama when a 2026-07-28 client abandons the call (closes its stream)", async () => {
    const bin = await t.start();
    const client = modernClient();
    await client.connect(new StreamableHTTPClientTransport(new URL(bin.url)));
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    t.fake.inject("chat", { hang: true });
    const controller = new AbortController();
    const call = client
      .callTool({ name: "cloud_chat", arguments: { prompt: "x" } }, { signal: controller.signal })
      .catch((error: unknown) => error);
    await until(() => t.fake.requestsTo("/api/chat").length === 1);
    controller.abort();
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    expect(await call).toBeInstanceOf(Error);
    // The call after it is answered: nothing is left holding the request.
    const next = await client.callTool({ name: "cloud_chat", arguments: { prompt: "y" } });
    expect(next.isError).toBeFalsy();
  });

  it("frees the request to Ollama when a 2025 client sends notifications/cancelled", async () => {
    const bin = await t.start();
    const client = v1Client();
    await client.connect(new V1.StreamableHTTPClientTransport(new URL(bin.url)));
    t.fake.inject("chat", { hang: true });
    const controller = new AbortController();
    const call = client
      .callTool({ name: "cloud_chat", arguments: { prompt: "x" } }, undefined, {
        signal: controller.signal,
      })
      .catch((error: unknown) => error);
    await until(() => t.fake.requestsTo("/api/chat").length === 1);
    controller.abort();
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    expect(await call).toBeInstanceOf(Error);
  });
});

describe("2026-07-28 over HTTP keeps what 2025 clients have", () => {
  const TOKEN = "a-token-for-the-eras-test";

  async function connectModern(url: string, headers: Record<string, string> = {}) {
    const client = modernClient();
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }),
    );
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    return client;
  }

  it("passes the same guards: the token, the Host and Origin checks, the body size", async () => {
    const bin = await t.start([], { MCP_HTTP_TOKEN: TOKEN, MCP_HTTP_MAX_BODY_BYTES: "4096" });
    const post = (headers: Record<string, string>, body = {}) =>
      fetch(bin.url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          "mcp-protocol-version": MODERN,
          "mcp-method": "tools/list",
          ...headers,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/list",
          params: {
            _meta: {
              "io.modelcontextprotocol/protocolVersion": MODERN,
              "io.modelcontextprotocol/clientCapabilities": {},
            },
          },
          ...body,
        }),
      });
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: "Bearer wrong" })).status).toBe(401);
    expect((await post({ ...auth, origin: "https://evil.example" })).status).toBe(403);
    expect(await statusWithHost(bin.url, "evil.example", auth)).toBe(403);
    expect((await post(auth, { padding: "x".repeat(8_000) })).status).toBe(413);
    expect((await post(auth)).status).toBe(200);
    const client = await connectModern(bin.url, auth);
    expect((await client.listTools()).tools).toHaveLength(10);
  });

  it("runs each caller's calls on their own key (MCP_HTTP_KEYS=client)", async () => {
    const ALPHA = "ollama-key-alpha-eras";
    const BRAVO = "ollama-key-bravo-eras";
    t.fake.apiKey = ALPHA;
    t.fake.otherKeys = [BRAVO];
    const bin = await t.start([], { OLLAMA_API_KEY: undefined, MCP_HTTP_KEYS: "client" });
    for (const key of [ALPHA, BRAVO]) {
      const client = await connectModern(bin.url, { authorization: `Bearer ${key}` });
      const result = await client.callTool({ name: "web_search", arguments: { query: key } });
      expect(result.isError).toBeFalsy();
    }
    expect(t.fake.requestsTo("/api/web_search").map((r) => r.headers.authorization)).toEqual([
      `Bearer ${ALPHA}`,
      `Bearer ${BRAVO}`,
    ]);
  });

  it("hands back a long call by job_id, and get_result answers it, on any instance", async () => {
    const redis = await RedisServer.start();
    closers.push(() => redis.close());
    const env = { OLLAMA_MCP_DEFER_AFTER_MS: "200", OLLAMA_MCP_STORE: redis.url };
    const [a, b] = await Promise.all([t.start([], env), t.start([], env)]);
    t.fake.latency.chat = 1_000;
    const first = await connectModern(a.url);
    const running = await first.callTool({ name: "cloud_chat", arguments: { prompt: "slow" } });
    const jobId = (running.structuredContent as { status: string; job_id: string }).job_id;
    expect(running.structuredContent).toMatchObject({ status: "running" });
    const second = await connectModern(b.url);
    let result = await second.callTool({ name: "get_result", arguments: { job_id: jobId } });
    while ((result.structuredContent as { status?: string }).status === "running") {
      result = await second.callTool({ name: "get_result", arguments: { job_id: jobId } });
    }
    expect(result.structuredContent).toMatchObject({ status: "done", answer: "echo: slow" });
  });

  it("continues a cloud_chat conversation by its id, whichever instance the next turn reaches", async () => {
    const redis = await RedisServer.start();
    closers.push(() => redis.close());
    const env = { OLLAMA_MCP_STORE: redis.url };
    const [a, b] = await Promise.all([t.start([], env), t.start([], env)]);
    const first = await (await connectModern(a.url)).callTool({
      name: "cloud_chat",
      arguments: { prompt: "first turn" },
    });
    const id = (first.structuredContent as { conversation_id: string }).conversation_id;
    const second = await (await connectModern(b.url)).callTool({
      name: "cloud_chat",
      arguments: { prompt: "second turn", conversation_id: id },
    });
    expect(second.isError, textOf(second as never)).toBeFalsy();
    const sent = t.fake.requestsTo("/api/chat").at(-1)?.body as { messages: { content: string }[] };
    expect(sent.messages.map((m) => m.content)).toEqual(
      expect.arrayContaining(["first turn", "second turn"]),
    );
  });

  it("on SIGTERM lets a 2026-07-28 call in flight finish, then exits 0", async () => {
    const bin = await t.start();
    t.fake.latency.chat = 700;
    const client = await connectModern(bin.url);
    const call = client.callTool({ name: "cloud_chat", arguments: { prompt: "finish me" } });
    await until(() => t.fake.requestsTo("/api/chat").length > 0);
    bin.child.kill("SIGTERM");
    expect((await call).structuredContent).toMatchObject({ answer: "echo: finish me" });
    expect(await bin.exited).toBe(0);
  });
});

describe("Claude Code 2.1.332", () => {
  let home: string;
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  /** `claude mcp list` checks each server's health: it connects as it would for a session. */
  async function claudeList(args: string[]): Promise<string> {
    home = mkdtempSync(join(tmpdir(), "ocm-claude-eras-"));
    const env = { PATH: process.env.PATH ?? "", HOME: home, DISABLE_AUTOUPDATER: "1" };
    const claude = (await testTools()).bin("claude");
    await runFile(claude, ["mcp", "add", ...args], { env, cwd: home });
    const { stdout } = await runFile(claude, ["mcp", "list"], { env, cwd: home, timeout: 60_000 });
    return stdout;
  }

  it("speaks 2026-07-28 over stdio, as seen on the wire", async () => {
    const wire = recordingStdio();
    const env = Object.entries(binEnv(t.fake)).flatMap(([key, value]) =>
      key === "PATH" ? [] : ["-e", `${key}=${value}`],
    );
    const listed = await claudeList(["ollama", ...env, "--", ...wire.command]);
    expect(listed).toMatch(/ollama: .* - ✔ Connected/);
    const sent = wire.sent();
    expect(sent.map((m) => m.method)).not.toContain("initialize");
    expect(sent.map((m) => m.method)).toEqual(
      expect.arrayContaining(["server/discover", "tools/list"]),
    );
    for (const message of sent.filter((m) => m.method)) {
      expect(message.params?._meta).toMatchObject({
        "io.modelcontextprotocol/protocolVersion": MODERN,
      });
    }
  });

  it("speaks 2026-07-28 over HTTP, as seen on the wire", async () => {
    const bin = await t.start();
    const proxy = await recordingProxy(bin.url);
    closers.push(() => proxy.close());
    const listed = await claudeList(["--transport", "http", "ollama", proxy.url]);
    expect(listed).toMatch(/ollama: .* - ✔ Connected/);
    const posted = proxy.posted();
    expect(posted.map((p) => p.method)).not.toContain("initialize");
    expect(posted.map((p) => p.method)).toEqual(
      expect.arrayContaining(["server/discover", "tools/list"]),
    );
    for (const post of posted) expect(post.protocolVersion).toBe(MODERN);
    expect(posted.some((p) => p.sessionId)).toBe(false);
  });
});

describe("the MCP Inspector CLI 2.12, --strict", () => {
  /** tools/list under --strict, which warns on stderr about each schema that is less portable. */
  async function inspect(args: string[]): Promise<unknown> {
    const tools = await testTools();
    const { stdout, stderr } = await runFile(
      tools.node22,
      [
        tools.bin("mcp-inspector"),
        "--cli",
        "--strict",
        "--format",
        "json",
        "--method",
        "tools/list",
        ...args,
      ],
      { timeout: 120_000, env: { ...process.env, HOME: tmpdir() } },
    );
    expect(stderr).not.toMatch(/^(Warning|Error): /m);
    return JSON.parse(stdout);
  }

  for (const [label, era, opening, version] of [
    ["its default", [], "initialize", undefined],
    ["--protocol-era modern", ["--protocol-era", "modern"], "server/discover", MODERN],
  ] as const) {
    it(`lists the tools over stdio and HTTP with ${label}, in that era on the wire`, async () => {
      const wire = recordingStdio();
      const env = Object.entries(binEnv(t.fake)).flatMap(([key, value]) => [
        "-e",
        `${key}=${value}`,
      ]);
      const stdio = await inspect([...era, ...env, ...wire.command]);
      expect(stdio).toMatchObject({ result: { tools: expect.any(Array) } });
      expect(wire.sent()[0]?.method).toBe(opening);

      const bin = await t.start();
      const proxy = await recordingProxy(bin.url);
      closers.push(() => proxy.close());
      const http = (await inspect([...era, proxy.url])) as { result: { tools: unknown[] } };
      expect(http.result.tools).toHaveLength(10);
      expect(proxy.posted()[0]?.method).toBe(opening);
      if (version) for (const post of proxy.posted()) expect(post.protocolVersion).toBe(version);
    }, 180_000);
  }
});

/** The bin behind a shim that writes down each line its client sends. */
function recordingStdio(): { command: string[]; sent(): WireMessage[] } {
  const dir = mkdtempSync(join(tmpdir(), "ocm-wire-"));
  closers.push(async () => rmSync(dir, { recursive: true, force: true }));
  const wire = join(dir, "wire.log");
  const shim = join(dir, "shim.cjs");
  writeFileSync(shim, RECORDING_SHIM);
  writeFileSync(wire, "");
  return {
    command: [process.execPath, shim, wire, process.execPath, BIN],
    sent: () =>
      readFileSync(wire, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as WireMessage),
  };
}

interface WireMessage {
  method?: string;
  params?: { _meta?: object };
}

/** A POST with a Host header of our choosing, which fetch would not send. */
function statusWithHost(
  url: string,
  host: string,
  headers: Record<string, string>,
): Promise<number> {
  const to = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: to.hostname,
        port: to.port,
        path: to.pathname,
        method: "POST",
        headers: { ...MCP_HEADERS, "mcp-protocol-version": MODERN, ...headers, host },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
}

/** Spawned by Claude Code in place of the server: writes each line from the client to a file. */
const RECORDING_SHIM = `
const { spawn } = require("node:child_process");
const { appendFileSync } = require("node:fs");
const [log, ...command] = process.argv.slice(2);
const child = spawn(command[0], command.slice(1), { stdio: ["pipe", "inherit", "inherit"] });
let pending = "";
process.stdin.on("data", (chunk) => {
  pending += chunk.toString();
  for (let at = pending.indexOf("\\n"); at !== -1; at = pending.indexOf("\\n")) {
    appendFileSync(log, pending.slice(0, at + 1));
    pending = pending.slice(at + 1);
  }
  child.stdin.write(chunk);
});
process.stdin.on("end", () => child.stdin.end());
child.on("exit", (code) => process.exit(code ?? 0));
`;

/** An HTTP proxy in front of `target` that notes each POST's method, era header and session. */
async function recordingProxy(target: string): Promise<{
  url: string;
  posted(): { method: string; protocolVersion?: string; sessionId?: string }[];
  close(): Promise<void>;
}> {
  const seen: { method: string; protocolVersion?: string; sessionId?: string }[] = [];
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method === "POST") {
        const message = JSON.parse(body.toString()) as { method?: string };
        seen.push({
          method: message.method ?? "(response)",
          ...(req.headers["mcp-protocol-version"] && {
            protocolVersion: String(req.headers["mcp-protocol-version"]),
          }),
          ...(req.headers["mcp-session-id"] && {
            sessionId: String(req.headers["mcp-session-id"]),
          }),
        });
      }
      const forward = httpRequest(
        {
          host: to.hostname,
          port: to.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: to.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      res.on("close", () => forward.destroy());
      forward.on("error", () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    posted: () => seen.filter((s) => s.method !== "(response)"),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
