import { serveStdio as serveBothEras } from "@modelcontextprotocol/server/stdio";
import { parseCli } from "./cli.js";
import { compose, type Services } from "./compose.js";
import type { HttpOptions } from "./config.js";
import { helpText } from "./help.js";
import { type OpsLogger, stderrLogger } from "./observability.js";
import { ConfigError } from "./setting.js";
import { finishCallsInFlight } from "./shutdown.js";
import { StoreUnavailableError } from "./store/store.js";
import { StdioTransport } from "./transports/stdio.js";
import { VERSION } from "./version.js";

const PREFIX = "ollama-cloud-mcp:";
const writeErr = (line: string) => process.stderr.write(`${PREFIX} ${line}\n`);

/**
 * No library may print: on stdio, stdout is the protocol, and what a library prints can carry
 * prompts and model output. ollama-js's printing paths (error bodies, unparsable stream lines)
 * are not reached any more, since the seam answers errors and chat streams are read here; this
 * holds for whatever else is bundled. Console output is dropped, and only its occurrence is
 * logged, at debug level.
 */
function silenceConsole(log: OpsLogger): void {
  const drop = () => log.log("debug", "a bundled library tried to print to the console (dropped)");
  for (const method of [
    "log",
    "info",
    "debug",
    "warn",
    "error",
    "trace",
    "dir",
    "table",
  ] as const) {
    console[method] = drop;
  }
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
  for (const warning of action.warnings) writeErr(warning);
  const log = stderrLogger(config.logLevel, writeErr);
  silenceConsole(log);
  let services: Services;
  try {
    services = await compose({
      config,
      transport: http.enabled ? "http" : "stdio",
      log,
      writeLog: writeErr,
      secrets: [http.token, http.oauthSecret],
    });
  } catch (error) {
    // A Redis that cannot be used stops the server at start.
    if (error instanceof StoreUnavailableError) {
      writeErr(error.message);
      process.exit(2);
    }
    throw error;
  }
  // With callers' own keys, or signed-in users, the server needs none of its own.
  if (!config.apiKey && http.keys === "server" && http.auth === "token") {
    writeErr("OLLAMA_API_KEY is not set; tools are listed but calls will explain how to set it.");
  }
  if (http.enabled) return serveHttp(http, log, services);
  return serveStdio(http.shutdownGraceMs, log, services);
}

/**
 * Both protocol eras on stdin/stdout: the opening message picks the era, and one server is
 * pinned to the connection. On stdin's end, SIGTERM or SIGINT: read no more, let the calls in
 * flight finish within the grace period and write their replies, answer any still running with
 * an error, then exit 0.
 */
async function serveStdio(graceMs: number, log: OpsLogger, services: Services): Promise<void> {
  const { config, jobs, clock } = services;
  const transport = new StdioTransport({ maxMessageBytes: config.maxMessageBytes, log });
  const connection = serveBothEras(({ era }) => services.newServer(era), {
    transport,
    onerror: (error) => log.log("warning", `stdio: ${error.message}`),
  });
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    transport.stopReading();
    const running = transport.unansweredCount();
    if (running > 0)
      log.log("info", `${why}: finishing ${running} call(s) in flight, then stopping`);
    await finishCallsInFlight({
      clock,
      graceMs,
      answered: transport.whenAnswered(),
      answerRest: () => transport.answerUnansweredAsStopping(),
    });
    await jobs.close(0);
    await transport.flushed();
    await connection.close().catch(() => {});
    process.exit(0);
  };
  process.stdin.on("end", () => void shutdown("stdin ended"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

async function serveHttp(http: HttpOptions, log: OpsLogger, services: Services): Promise<void> {
  // Only an HTTP server loads the HTTP stack.
  const { startHttpServer } = await import("./http/server.js");
  const running = await startHttpServer({
    options: http,
    createMcpServer: (era) => services.newServer(era),
    log,
    clock: services.clock,
    signIn: {
      store: services.store,
      checkKey: (apiKey, options) => services.upstream.checkKey(apiKey, options),
    },
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EADDRINUSE" && error.code !== "EACCES") throw error;
    writeErr(
      error.code === "EADDRINUSE"
        ? `port ${http.port} on ${http.host} is already in use (MCP_HTTP_PORT, --port): stop what is listening there, or pick another port.`
        : `port ${http.port} on ${http.host} may not be used by this user (MCP_HTTP_PORT, --port): pick a port above 1023.`,
    );
    process.exit(2);
  });
  // With sign-in, clients must use the public URL: it is the OAuth resource they are given.
  writeErr(
    http.auth === "oauth"
      ? `Listening on ${http.publicUrl}/mcp (bound to ${new URL(running.url).host})`
      : `Listening on ${running.url}`,
  );
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    writeErr(`${signal}: finishing in-flight calls, then stopping`);
    void Promise.all([running.close(), services.jobs.close(http.shutdownGraceMs)]).finally(() =>
      process.exit(0),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  writeErr(`fatal: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
