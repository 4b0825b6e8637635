import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConfigError, type HttpOptions, type LogLevel, parseCli } from "./config.js";
import { helpText } from "./help.js";
import { stderrLogger } from "./observability.js";
import { createServer } from "./server.js";
import { StdioTransport } from "./transports/stdio.js";
import { createUpstream } from "./upstream/upstream.js";
import { VERSION } from "./version.js";

const writeErr = (line: string) => process.stderr.write(`ollama-cloud-mcp: ${line}\n`);

/**
 * On stdio, stdout is the protocol. Libraries that print (ollama-js logs with console.log on
 * some error paths) must not reach it, so console output goes to stderr.
 */
function keepStdoutForProtocol(): void {
  const toStderr = (...args: unknown[]) =>
    process.stderr.write(`${args.map((a) => (typeof a === "string" ? a : String(a))).join(" ")}\n`);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
}

async function main(): Promise<void> {
  let action: ReturnType<typeof parseCli>;
  try {
    action = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      writeErr(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (action.kind === "help") {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  if (action.kind === "version") {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const { config, http } = action;
  // One upstream client for the process: connections and caches are shared by every session.
  const client = createUpstream({ config });
  const newServer = () => createServer({ config, client, writeLog: writeErr });
  if (!config.apiKey) {
    writeErr("OLLAMA_API_KEY is not set; tools are listed but calls will explain how to set it.");
  }
  if (http.enabled) return serveHttp(http, config.logLevel, newServer);
  return serveStdio(newServer);
}

async function serveStdio(newServer: () => McpServer): Promise<void> {
  keepStdoutForProtocol();
  const server = newServer();
  await server.connect(new StdioTransport());
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void server.close().finally(() => process.exit(0));
  };
  process.stdin.on("end", shutdown);
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

async function serveHttp(
  http: HttpOptions,
  logLevel: LogLevel,
  newServer: () => McpServer,
): Promise<void> {
  // Loaded only here, so a stdio start never pays for the HTTP stack.
  const { startHttpServer } = await import("./transports/http.js");
  const running = await startHttpServer({
    options: http,
    createMcpServer: newServer,
    log: stderrLogger(logLevel, writeErr),
  });
  process.stderr.write(`Listening on ${running.url}\n`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    writeErr(`${signal}: finishing in-flight calls, then stopping`);
    void running.close().finally(() => process.exit(0));
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  writeErr(`fatal: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
