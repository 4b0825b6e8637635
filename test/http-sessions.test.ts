import { afterEach, describe, expect, it } from "vitest";
import { compose } from "../src/compose.js";
import { resolveConfig, resolveHttpOptions } from "../src/config.js";
import { type RunningHttpServer, startHttpServer } from "../src/http/server.js";
import { MCP_HEADERS } from "./e2e/http-harness.js";
import { ManualClock } from "./manual-clock.js";
import { INITIALIZE_REQUEST as INIT } from "./spawn-bin.js";

const running: RunningHttpServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

/** The HTTP transport in this process, its time on a manual clock. */
async function serve(flags: Record<string, string>): Promise<{
  server: RunningHttpServer;
  clock: ManualClock;
}> {
  const clock = new ManualClock();
  const config = resolveConfig({}, { OLLAMA_API_KEY: "unused-key-0000" });
  const options = resolveHttpOptions({ http: "true", port: "0", ...flags }, {});
  const log = { log: () => {} };
  const services = await compose({ config, transport: "http", log, clock });
  const server = await startHttpServer({
    options,
    createMcpServer: () => services.newServer(),
    log: { log: () => {} },
    clock,
  });
  running.push(server);
  return { server, clock };
}

async function post(
  server: RunningHttpServer,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(server.url, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...headers },
    body: JSON.stringify(body),
  });
}

async function openSession(server: RunningHttpServer, initialized = true): Promise<string> {
  const answer = await post(server, INIT);
  expect(answer.status).toBe(200);
  await answer.text();
  const id = answer.headers.get("mcp-session-id") as string;
  if (initialized) {
    const note = await post(
      server,
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" },
    );
    expect(note.status).toBe(202);
  }
  return id;
}

describe("HTTP sessions on the clock", () => {
  it("expires idle sessions", async () => {
    const { server, clock } = await serve({ "session-idle-ms": "1000" });
    await openSession(server);
    expect(server.sessionCount()).toBe(1);
    clock.advance(1_000);
    expect(server.sessionCount()).toBe(1);
    clock.advance(1_000);
    expect(server.sessionCount()).toBe(0);
  });

  it("reclaims a session whose handshake never completed, and keeps one that did", async () => {
    const { server, clock } = await serve({ "handshake-timeout-ms": "1000" });
    await openSession(server, false);
    const kept = await openSession(server);
    expect(server.sessionCount()).toBe(2);
    clock.advance(2_000);
    expect(server.sessionCount()).toBe(1);
    const list = await post(
      server,
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      { "mcp-session-id": kept, "mcp-protocol-version": "2025-06-18" },
    );
    expect(list.status).toBe(200);
    await list.text();
  });
});
