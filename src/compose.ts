import { fileURLToPath } from "node:url";
import type { McpServer, ProtocolEra } from "@modelcontextprotocol/server";
import type { SkillsExtension } from "@modelcontextprotocol/server/ext/skills";
import { type Clock, systemClock } from "./clock.js";
import type { ServerConfig } from "./config.js";
import { Conversations, conversationsConfig } from "./conversations.js";
import { Jobs, jobsConfig } from "./jobs/jobs.js";
import type { OpsLogger } from "./observability.js";
import { serverFactory, TOOLS_LIST_CACHE } from "./server.js";
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
  /** Where the skills are (tests); by default the package's skills/. */
  skillsDir?: string;
}

/** What a running server is made of, built once: the bin, the docs, the bench and tests use it. */
export interface Services {
  config: ServerConfig;
  clock: Clock;
  store: Store;
  jobs: Jobs;
  conversations: Conversations;
  upstream: Upstream;
  /**
   * One MCP server over these services: per connection (stdio, 2025 sessions) or per request.
   * A 2026-07-28 one (`modern`) serves the skills too, once they are loaded.
   */
  newServer(era?: "legacy"): McpServer;
  newServer(era: ProtocolEra): McpServer | Promise<McpServer>;
}

/**
 * skills/ at the package's root, beside src/ and dist/: this module is in the bundle's main.mjs,
 * and the package and the MCP Bundle ship the folder beside dist/.
 */
export const SKILLS_DIR = fileURLToPath(new URL("../skills/", import.meta.url));

/** Settings → store → jobs → conversations → upstream → the server factory (skills when asked). */
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
  const build = serverFactory({
    config,
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
  // Only 2026-07-28 clients ask for skills (skills/list): a 2025 connection starts without the
  // skills extension's code (about 5% of start-up), and the first 2026-07-28 one loads it.
  let skills: Promise<SkillsExtension | undefined> | undefined;
  const loadSkills = () =>
    import("./skills.js")
      .then(({ skillsFor }) =>
        skillsFor(
          offeredTools(config).map(({ tool }) => tool.name),
          {
            dir: options.skillsDir ?? SKILLS_DIR,
            // Skills change only with the package and --tools, as the tool list does.
            cacheHint: TOOLS_LIST_CACHE,
            onWarning: (warning) => log.log("warning", `skill ${warning.path}: ${warning.message}`),
          },
        ),
      )
      // Skills that cannot be read leave the tools served: they are guidance, not the service.
      .catch((error: unknown) => {
        log.log("warning", `the skills are not served: ${(error as Error).message}`);
        return undefined;
      });
  const newServer = ((era: ProtocolEra = "legacy") => {
    if (era === "legacy") return build();
    skills ??= loadSkills();
    return skills.then((extension) => {
      const server = build();
      extension?.attach(server);
      return server;
    });
  }) as Services["newServer"];
  return { config, clock, store, jobs, conversations, upstream, newServer };
}

/** The store OLLAMA_MCP_STORE names; a Redis that cannot be used throws StoreUnavailableError. */
function openStore(config: ServerConfig, log: OpsLogger, clock: Clock): Promise<Store> {
  if (config.store.kind === "memory") return Promise.resolve(new MemoryStore(clock));
  return RedisStore.open(config.store.url, log, clock, config.storeTimeoutMs);
}
