import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { systemClock } from "./clock.js";
import { ConfigError, type HttpOptions, parseCli, type ServerConfig } from "./config.js";
import { Conversations, conversationsConfig } from "./conversations.js";
import { helpText } from "./help.js";
import { Jobs, jobsConfig } from "./jobs/jobs.js";
import { type OpsLogger, stderrLogger } from "./observability.js";
import { createServer } from "./server.js";
import { finishCallsInFlight } from "./shutdown.js";
import { MemoryStore } from "./store/memory-store.js";
import { RedisStore } from "./store/redis-store.js";
import { type Store, StoreUnavailableError } from "./store/store.js";
import type { HttpServerDeps } from "./transports/http.js";
import { StdioTransport } from "./transports/stdio.js";
import { createUpstream } from "./upstream/upstream.js";
import { VERSION } from "./version.js";

const PREFIX = "ollama-cloud-mcp:";
const writeErr = (line: string) => process.stderr.write(`${PREFIX} ${line}\n`);

/**
 * No library may print: on stdio, stdout is the protocol, and what libraries print (ollama-js
 * logs unparsable lines and error bodies with console) can carry prompts and model output.
 * Console output is dropped, and only its occurrence is logged, at debug level.
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
  const log = stderrLogger(config.logLevel, writeErr);
  silenceConsole(log);
  // One upstream client for the process: connections and caches are shared by every session.
  const client = createUpstream({ config, secrets: [http.token, http.oauthSecret] });
  const store = await openStore(config, log);
  const jobs = new Jobs(store, systemClock, jobsConfig(config), log);
  const conversations = new Conversations(store, systemClock, conversationsConfig(config));
  const newServer = () =>
    createServer({
      config,
      client,
      jobs,
      conversations,
      transport: http.enabled ? "http" : "stdio",
      writeLog: writeErr,
      secrets: [http.token, http.oauthSecret],
    });
  // With callers' own keys, or signed-in users, the server needs none of its own.
  if (!config.apiKey && http.keys === "server" && http.auth === "token") {
    writeErr("OLLAMA_API_KEY is not set; tools are listed but calls will explain how to set it.");
  }
  if (http.enabled) {
    const signIn: HttpServerDeps["signIn"] = {
      store,
      checkKey: (apiKey, options) => client.checkKey(apiKey, options),
    };
    return serveHttp(http, log, newServer, jobs, signIn);
  }
  return serveStdio(config, http.shutdownGraceMs, log, newServer, jobs);
}

/** The store jobs live in; a Redis that cannot be used stops the server at start (exit 2). */
async function openStore(config: ServerConfig, log: OpsLogger): Promise<Store> {
  if (config.store.kind === "memory") return new MemoryStore(systemClock);
  try {
    return await RedisStore.open(config.store.url, log, systemClock);
  } catch (error) {
    if (error instanceof StoreUnavailableError) {
      writeErr(error.message);
      process.exit(2);
    }
    throw error;
  }
}

/**
 * On stdin's end, SIGTERM or SIGINT: read no more, let the calls in flight finish within the
 * grace period and write their replies, answer any still running with an error, then exit 0.
 */
async function serveStdio(
  config: ServerConfig,
  graceMs: number,
  log: OpsLogger,
  newServer: () => McpServer,
  jobs: Jobs,
): Promise<void> {
  const server = newServer();
  const transport = new StdioTransport({ maxMessageBytes: config.maxMessageBytes, log });
  await server.connect(transport);
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    transport.stopReading();
    const running = transport.unansweredRequests().length;
    if (running > 0)
      log.log("info", `${why}: finishing ${running} call(s) in flight, then stopping`);
    await finishCallsInFlight({
      clock: systemClock,
      graceMs,
      answered: transport.whenAnswered(),
      answerRest: () => transport.answerUnansweredAsStopping(),
    });
    await jobs.close(0);
    await server.close().catch(() => {});
    await transport.flushed();
    process.exit(0);
  };
  process.stdin.on("end", () => void shutdown("stdin ended"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

async function serveHttp(
  http: HttpOptions,
  log: OpsLogger,
  newServer: () => McpServer,
  jobs: Jobs,
  signIn: HttpServerDeps["signIn"],
): Promise<void> {
  // Only an HTTP server loads the HTTP stack.
  const { startHttpServer } = await import("./transports/http.js");
  const running = await startHttpServer({ options: http, createMcpServer: newServer, log, signIn });
  writeErr(`Listening on ${running.url}`);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    writeErr(`${signal}: finishing in-flight calls, then stopping`);
    void Promise.all([running.close(), jobs.close(http.shutdownGraceMs)]).finally(() =>
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
