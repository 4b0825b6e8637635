import type { McpServer } from "@modelcontextprotocol/server";
import { type Clock, systemClock } from "./clock.js";
import type { ServerConfig } from "./config.js";
import { Conversations, conversationsConfig } from "./conversations.js";
import { Jobs, jobsConfig } from "./jobs/jobs.js";
import type { OpsLogger } from "./observability.js";
import { serverFactory, TOOLS_LIST_CACHE } from "./server.js";
import { skillsFor } from "./skills.js";
import { MemoryStore } from "./store/memory-store.js";
import { RedisStore } from "./store/redis-store.js";
import type { Store } from "./store/store.js";
import { offeredTools } from "./tools/registry.js";
import { createUpstream, type Upstream, type UpstreamDeps } from "./upstream/upstream.js";

export interface ComposeOptions {
  config: ServerConfig;
  /** stdio lets cloud_chat read image files the client names; http never does. */
  transport: "stdio" | "http";
  /** Operational lines (stderr in the bin); the server's tools log through it too. */
  log: OpsLogger;
  /** Writes one human-readable line (the bin's stderr); tools' own log lines go here. */
  writeLog?: (line: string) => void;
  /** Secrets besides the Ollama key that must never appear in a result (the HTTP token). */
  secrets?: readonly (string | undefined)[];
  clock?: Clock;
  /** Where jobs and conversations live; by default the one OLLAMA_MCP_STORE names. */
  store?: Store;
  /** Conversations kept apart from jobs (tests); by default in `store`. */
  conversationStore?: Store;
  /** Shared with another composition (two servers of one process, in tests). */
  jobs?: Jobs;
  conversations?: Conversations;
  upstream?: Upstream;
  retryPolicy?: UpstreamDeps["retryPolicy"];
  fetch?: UpstreamDeps["fetch"];
  progressThrottleMs?: number;
}

/** What a running server is made of, built once: the bin, the docs, the bench and tests use it. */
export interface Services {
  config: ServerConfig;
  clock: Clock;
  store: Store;
  jobs: Jobs;
  conversations: Conversations;
  upstream: Upstream;
  /** One MCP server over these services: per connection (stdio, 2025 sessions) or per request. */
  newServer(): McpServer;
}

/** Settings → store → jobs → conversations → upstream → skills → the server factory. */
export async function compose(options: ComposeOptions): Promise<Services> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const store = options.store ?? (await openStore(config, log, clock));
  const jobs = options.jobs ?? new Jobs(store, clock, jobsConfig(config), log);
  const conversations =
    options.conversations ??
    new Conversations(options.conversationStore ?? store, clock, conversationsConfig(config));
  const upstream =
    options.upstream ??
    createUpstream({
      config,
      clock,
      ...(options.secrets && { secrets: options.secrets }),
      ...(options.retryPolicy && { retryPolicy: options.retryPolicy }),
      ...(options.fetch && { fetch: options.fetch }),
    });
  const skills = skillsFor(
    offeredTools(config).map(({ tool }) => tool.name),
    {
      // Skills change only with the package and --tools, as the tool list does.
      cacheHint: TOOLS_LIST_CACHE,
      onWarning: (warning) => log.log("warning", `skill ${warning.path}: ${warning.message}`),
    },
  );
  const newServer = serverFactory({
    config,
    skills,
    client: upstream,
    jobs,
    conversations,
    clock,
    transport: options.transport,
    ...(options.writeLog && { writeLog: options.writeLog }),
    ...(options.secrets && { secrets: options.secrets }),
    ...(options.progressThrottleMs !== undefined && {
      progressThrottleMs: options.progressThrottleMs,
    }),
  });
  return { config, clock, store, jobs, conversations, upstream, newServer };
}

/** The store OLLAMA_MCP_STORE names; a Redis that cannot be used throws StoreUnavailableError. */
function openStore(config: ServerConfig, log: OpsLogger, clock: Clock): Promise<Store> {
  if (config.store.kind === "memory") return Promise.resolve(new MemoryStore(clock));
  return RedisStore.open(config.store.url, log, clock, config.storeTimeoutMs);
}
