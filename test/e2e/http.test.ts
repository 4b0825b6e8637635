import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { CallToolResult, OAuthClientProvider } from "@modelcontextprotocol/client";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { describe, expect, it } from "vitest";
import { TOOL_NAMES, until } from "../harness.js";
import { BIN, binEnv, type HttpBin, INITIALIZE_REQUEST as INIT } from "../spawn-bin.js";
import { MCP_HEADERS, useHttpBins } from "./http-harness.js";

const run = promisify(execFile);
const TOKEN = "http-token-c0ffee";
interface Health {
  status: string;
  mode: string;
  sessions: number;
}
interface RpcError {
  error: { code: number; message: string };
}
const health = async (bin: HttpBin) =>
  (await (await fetch(`${bin.origin}/healthz`)).json()) as Health;

const t = useHttpBins();
const { start } = t;

const sdkClient = t.client;

async function callEveryTool(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
  // get_result and cancel_job need a deferred call: the jobs tests cover them.
  const calls: Record<string, Record<string, unknown>> = {
    cloud_chat: { prompt: "hi" },
    web_search: { query: "q", max_results: 2 },
    search_and_summarize: { query: "q", max_results: 2 },
    web_fetch: { url: "https://ollama.com" },
    list_models: {},
    research: { question: "What is Ollama?", max_steps: 2 },
    consensus: { prompt: "hi", models: ["gpt-oss:120b", "gpt-oss:20b"] },
  };
  for (const tool of tools.filter((t) => t.name in calls)) {
    const result = (await client.callTool({
      name: tool.name,
      arguments: calls[tool.name],
    })) as CallToolResult;
    expect(result.isError, `${tool.name}: ${JSON.stringify(result.content)}`).toBeFalsy();
    expect(result.structuredContent, tool.name).toBeTruthy();
  }
}

async function initialize(bin: HttpBin, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(bin.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...headers },
    body: JSON.stringify(INIT),
  });
  expect(response.status).toBe(200);
  await response.text();
  const id = response.headers.get("mcp-session-id");
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id as string;
}

describe("Streamable HTTP through the SDK client", () => {
  it("serves every tool, stateful, and prints where it listens", async () => {
    const bin = await start();
    expect(bin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const { client, transport } = await sdkClient(bin.url);
    expect(transport.sessionId).toBeTruthy();
    await callEveryTool(client);
    await transport.terminateSession();
    await client.close();
  });

  it("serves every tool, stateless, with no session ids", async () => {
    const bin = await start(["--stateless"]);
    const { client, transport } = await sdkClient(bin.url);
    expect(transport.sessionId).toBeUndefined();
    await callEveryTool(client);
    await client.close();
    expect(await health(bin)).toMatchObject({ status: "ok", mode: "stateless", sessions: 0 });
  });

  it("requires the token when one is set, and works with it", async () => {
    const bin = await start([], { MCP_HTTP_TOKEN: TOKEN });
    await expect(sdkClient(bin.url)).rejects.toThrow(/401|Unauthorized/);
    const { client } = await sdkClient(bin.url, { authorization: `Bearer ${TOKEN}` });
    await callEveryTool(client);
    await client.close();
  });

  it("requires the token in stateless mode too", async () => {
    const bin = await start(["--stateless", "--http-token", TOKEN]);
    await expect(sdkClient(bin.url, { authorization: "Bearer wrong" })).rejects.toThrow(
      /401|Unauthorized/,
    );
    const { client } = await sdkClient(bin.url, { authorization: `Bearer ${TOKEN}` });
    expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
    await client.close();
  });
});

describe("HTTP rules", () => {
  it("answers /healthz without auth and without secrets", async () => {
    const bin = await start([], { MCP_HTTP_TOKEN: TOKEN });
    const response = await fetch(`${bin.origin}/healthz`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      status: "ok",
      version: expect.any(String),
      mode: "stateful",
      sessions: 0,
    });
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain("fake-key");
  });

  it("refuses a missing or wrong token with 401 and WWW-Authenticate", async () => {
    const bin = await start([], { MCP_HTTP_TOKEN: TOKEN });
    for (const authorization of [undefined, "Bearer nope", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const response = await fetch(bin.url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...(authorization && { authorization }) },
        body: JSON.stringify(INIT),
      });
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="ollama-cloud-mcp"');
    }
  });

  it("refuses a foreign Origin and a foreign Host with 403, allows loopback and listed ones", async () => {
    const bin = await start(["--allowed-origins", "https://app.example.com"]);
    const post = (headers: Record<string, string>) =>
      fetch(bin.url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body: JSON.stringify(INIT),
      });
    expect((await post({ origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ origin: "null" })).status).toBe(403);
    expect((await post({ origin: "https://app.example.com" })).status).toBe(200);
    expect((await post({ origin: "http://localhost:6274" })).status).toBe(200);
    // fetch will not forge Host, so use a raw request.
    const { request } = await import("node:http");
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(
        bin.url,
        { method: "POST", headers: { ...MCP_HEADERS, host: "evil.example:80" } },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify(INIT));
    });
    expect(status).toBe(403);
  });

  it("answers 404 for an unknown session and after DELETE ends one", async () => {
    const bin = await start();
    const unknown = await fetch(bin.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-session-id": "00000000-0000-0000-0000-000000000000" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as RpcError).error.code).toBe(-32001);

    const id = await initialize(bin);
    const headers = { ...MCP_HEADERS, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" };
    const deleted = await fetch(bin.url, { method: "DELETE", headers });
    expect(deleted.status).toBe(200);
    const after = await fetch(bin.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }),
    });
    expect(after.status).toBe(404);
    expect((await health(bin)).sessions).toBe(0);
  });

  it("caps the body (413), and answers bad JSON (400, parse error), wrong method (405), wrong type (415)", async () => {
    const bin = await start(["--max-body-bytes", "2048"]);
    const big = await fetch(bin.url, {
      method: "POST",
      headers: MCP_HEADERS,
      body: JSON.stringify({ ...INIT, padding: "x".repeat(4096) }),
    });
    expect(big.status).toBe(413);
    const bad = await fetch(bin.url, { method: "POST", headers: MCP_HEADERS, body: "{not json" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      jsonrpc: "2.0",
      error: { code: -32700, message: "Parse error: the body is not valid JSON" },
      id: null,
    });
    const put = await fetch(bin.url, { method: "PUT", headers: MCP_HEADERS, body: "{}" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST, DELETE");
    const text = await fetch(bin.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "content-type": "text/plain" },
      body: "{}",
    });
    expect(text.status).toBe(415);
    const other = await fetch(`${bin.origin}/elsewhere`);
    expect(other.status).toBe(404);
  });

  it("answers 503 past the session cap", async () => {
    const bin = await start(["--max-sessions", "2"]);
    await initialize(bin);
    await initialize(bin);
    const third = await fetch(bin.url, {
      method: "POST",
      headers: MCP_HEADERS,
      body: JSON.stringify(INIT),
    });
    expect(third.status).toBe(503);
    expect(((await third.json()) as RpcError).error.message).toMatch(
      /Too many sessions \(the limit is 2\)/,
    );
  });

  it("aborts the upstream request when the HTTP client goes away", async () => {
    const bin = await start();
    const id = await initialize(bin);
    t.fake.inject("chat", { hang: true });
    const controller = new AbortController();
    const call = fetch(bin.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 9,
        method: "tools/call",
        params: { name: "cloud_chat", arguments: { prompt: "x" } },
      }),
      signal: controller.signal,
    }).then((r) => r.text());
    await until(() => t.fake.requestsTo("/api/chat").length > 0);
    controller.abort();
    await expect(call).rejects.toThrow();
    // The fake never ends a hung request: only the server's abort can close it.
    await t.fake.requestsTo("/api/chat")[0]?.closed;
  });

  it("on SIGTERM lets an in-flight call finish, then exits 0", async () => {
    const bin = await start();
    t.fake.latency.chat = 700;
    const { client } = await sdkClient(bin.url);
    const call = client.callTool({ name: "cloud_chat", arguments: { prompt: "finish me" } });
    await until(() => t.fake.requestsTo("/api/chat").length > 0);
    bin.child.kill("SIGTERM");
    const result = (await call) as CallToolResult;
    expect(result.structuredContent).toMatchObject({ answer: "echo: finish me" });
    expect(await bin.exited).toBe(0);
    const late = await fetch(bin.url, {
      method: "POST",
      headers: MCP_HEADERS,
      body: JSON.stringify(INIT),
    }).catch((e: Error) => e);
    expect(late).toBeInstanceOf(Error);
  });

  it("says which port is taken, by which setting, and what to do (exit 2)", async () => {
    const first = await t.start();
    const { port } = new URL(first.url);
    const failure = await run(process.execPath, [BIN, "--http", "--port", port], {
      env: binEnv(t.fake),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain(
      `port ${port} on 127.0.0.1 is already in use (MCP_HTTP_PORT, --port): stop what is listening there, or pick another port.`,
    );
  });

  it("refuses to listen beyond loopback without a token", async () => {
    const failure = await run(
      process.execPath,
      [BIN, "--http", "--host", "0.0.0.0", "--port", "0"],
      {
        env: binEnv(t.fake),
      },
    ).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toMatch(
      /Refusing to listen on 0\.0\.0\.0 without a token.*MCP_HTTP_TOKEN/,
    );
  });
});

describe("a client that tries OAuth on a token-protected server", () => {
  it("finds plain 404s where OAuth metadata would be, and a message that says what to do", async () => {
    const bin = await start([], { MCP_HTTP_TOKEN: TOKEN });
    for (const path of [
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
    ]) {
      const response = await fetch(`${bin.origin}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get("content-type"), path).toMatch(/^text\/plain/);
      expect(await response.text()).toMatch(
        /does not use OAuth: add the header Authorization: Bearer <MCP_HTTP_TOKEN>/,
      );
    }
    // What the SDK's OAuth flow (Claude Code, the Inspector) ends with, and shows its user.
    const provider: OAuthClientProvider = {
      redirectUrl: "http://127.0.0.1:6274/oauth/callback",
      clientMetadata: {
        redirect_uris: ["http://127.0.0.1:6274/oauth/callback"],
        client_name: "test",
      },
      clientInformation: () => undefined,
      saveClientInformation: () => {},
      tokens: () => undefined,
      saveTokens: () => {},
      redirectToAuthorization: () => {},
      saveCodeVerifier: () => {},
      codeVerifier: () => "verifier",
    };
    const transport = new StreamableHTTPClientTransport(new URL(bin.url), {
      authProvider: provider,
    });
    const client = new Client({ name: "oauth-client", version: "1.0.0" });
    const failure = await client.connect(transport).catch((error: Error) => error);
    expect(String(failure)).toMatch(
      /This MCP server does not use OAuth: add the header Authorization: Bearer <MCP_HTTP_TOKEN> to its entry in your MCP client's config/,
    );
  });
});
