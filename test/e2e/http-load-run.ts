/**
 * A load run in its own Node process: vitest's instrumented workers keep references to objects
 * their tests touched, which would hide (or fake) a leak. Prints one JSON line of results.
 * Usage: node --import tsx test/e2e/http-load-run.ts <sessions>
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { CallToolResult, McpServer } from "@modelcontextprotocol/server";
import { compose } from "../../src/compose.js";
import { resolveConfig, resolveHttpOptions } from "../../src/config.js";
import { startHttpServer } from "../../src/http/server.js";
import { TOOL_NAMES } from "../../src/tools/all.js";
import { FAKE_API_KEY, FakeOllamaCloud } from "../fake-ollama-cloud.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const sessions = Number(process.argv[2] ?? 100);

const heapMiB = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const fake = await FakeOllamaCloud.start();
const config = resolveConfig({}, { OLLAMA_API_KEY: FAKE_API_KEY, OLLAMA_CLOUD_HOST: fake.url });
const services = await compose({ config, transport: "http", log: { log: () => {} } });
const servers: WeakRef<McpServer>[] = [];
const http = await startHttpServer({
  options: resolveHttpOptions(
    {},
    { MCP_HTTP: "1", MCP_HTTP_PORT: "0", MCP_HTTP_MAX_SESSIONS: "1000" },
  ),
  createMcpServer: () => {
    const server = services.newServer();
    servers.push(new WeakRef(server));
    return server;
  },
  log: { log: () => {} },
});

async function oneSession(i: number): Promise<void> {
  const transport = new StreamableHTTPClientTransport(new URL(http.url));
  const mcp = new Client({ name: `load-${i}`, version: "1.0.0" });
  await mcp.connect(transport);
  const { tools } = await mcp.listTools();
  if (tools.length !== TOOL_NAMES.length) throw new Error(`listed ${tools.length} tools`);
  const search = (await mcp.callTool({
    name: "web_search",
    arguments: { query: `q${i}`, max_results: 3 },
  })) as CallToolResult;
  const chat = (await mcp.callTool({
    name: "cloud_chat",
    arguments: { prompt: `p${i}` },
  })) as CallToolResult;
  if (search.isError) throw new Error("web_search failed");
  if ((chat.structuredContent as { answer?: string } | undefined)?.answer !== `echo: p${i}`) {
    throw new Error("cloud_chat answered wrongly");
  }
  await transport.terminateSession();
  await mcp.close();
}

const heapBefore = heapMiB();
const started = Date.now();
const outcomes = await Promise.allSettled(
  Array.from({ length: sessions }, (_, i) => oneSession(i)),
);
const elapsedMs = Date.now() - started;
const failures = outcomes.flatMap((o) => (o.status === "rejected" ? [String(o.reason)] : []));
const sessionsAfter = http.sessionCount();

// Idle keep-alive sockets hold their last request until Node's keepAliveTimeout (5 s). deref()
// pins its target until the current job ends, so each check collects first, in a fresh job.
const countAlive = () => servers.filter((ref) => ref.deref() !== undefined).length;
let aliveAfter = servers.length;
const waitStarted = Date.now();
while (Date.now() - waitStarted < 15_000) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  aliveAfter = countAlive();
  if (aliveAfter === 0) break;
}
const heapAfter = heapMiB();

process.stdout.write(
  `${JSON.stringify({
    sessions,
    created: servers.length,
    failures: failures.slice(0, 5),
    failureCount: failures.length,
    sessionsAfter,
    aliveAfter,
    freedWithinMs: Date.now() - waitStarted,
    heapBeforeMiB: Number(heapBefore.toFixed(1)),
    heapAfterMiB: Number(heapAfter.toFixed(1)),
    elapsedMs,
    upstreamRequests: fake.requests.length,
  })}\n`,
);
await http.close();
await fake.close();
