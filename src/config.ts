import {
  API_KEYS_URL,
  DEFAULT_CLOUD_HOST,
  DEFAULT_OLLAMA_HOST,
  parseCloudHost,
  parseHostNames,
  parseOllamaHost,
  parseProxyRanges,
  parsePublicUrl,
} from "./hosts.js";
import { ModelNameError, parseModelRef } from "./model-name.js";
import {
  ConfigError,
  type Earlier,
  type Env,
  type Flags,
  given,
  list,
  oneOf,
  onOrOff,
  onSwitch,
  resolveSettings,
  type Setting,
  type SettingValues,
  text,
  trueOrFalse,
  whole,
} from "./setting.js";
import { parseStoreSetting } from "./store/store.js";
import { selectTools, TOOL_NAMES } from "./tool-names.js";

export const DEFAULT_CLOUD_MODEL = "gpt-oss:120b";

const LOG_LEVELS = ["debug", "info", "warning", "error", "off"] as const;
const MODES = ["cloud", "local", "hybrid"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];
export type Mode = (typeof MODES)[number];
export type CloudVia = "direct" | "local";

/** The key without any `Bearer ` prefix; undefined when not configured. */
function apiKey(value: string | undefined): string | undefined {
  const key = value?.replace(/^bearer\s+/i, "").trim();
  return key ? key : undefined;
}

/** auto: direct with a key (or in cloud mode), else through the local Ollama. */
function cloudVia(value: string | undefined, name: string, earlier: Earlier): CloudVia {
  const via = oneOf(["direct", "local", "auto"])(value, name);
  if (via !== "auto") return via;
  return earlier.apiKey || earlier.mode === "cloud" ? "direct" : "local";
}

function modelName(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  try {
    return parseModelRef(value).input;
  } catch (error) {
    if (error instanceof ModelNameError) throw new ConfigError(`${name}: ${error.message}`);
    throw error;
  }
}

/** The cloud default, and the hybrid fallback: it cannot be local-only. */
function cloudModel(value: string | undefined, name: string): string {
  const model = modelName(given(value), name) as string;
  if (parseModelRef(model).placement === "local") {
    throw new ConfigError(`${name} must be a cloud model; "${model}" is marked ":local".`);
  }
  return model;
}

/** 2 to 5 distinct model names in Ollama's grammar. */
function consensusModels(value: string | undefined, name: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const names = [...new Set(list(value))];
  if (names.length < 2 || names.length > 5) {
    throw new ConfigError(
      `${name} must name 2 to 5 different models, comma-separated; got ${names.length}.`,
    );
  }
  for (const model of names) modelName(model, name);
  return names;
}

/**
 * Every setting, once: its variable, flag, default, help and parser. The settings' types are
 * derived from these tables, --help and docs/configuration.md are written from them, and
 * resolving is a loop over them (setting.ts). A later entry's parser may read an earlier value.
 */
export const SETTINGS = {
  apiKey: {
    env: "OLLAMA_API_KEY",
    flag: undefined,
    default: undefined,
    help: `API key for ollama.com (create one at ${API_KEYS_URL}). A leading "Bearer " is accepted.`,
    parse: apiKey,
  },
  cloudHost: {
    env: "OLLAMA_CLOUD_HOST",
    flag: "cloud-host",
    default: DEFAULT_CLOUD_HOST,
    help: "Base URL of Ollama's cloud API. Plain http:// is only allowed for loopback hosts.",
    parse: (value, _name, earlier) => parseCloudHost(given(value), earlier.apiKey !== undefined),
  },
  defaultModel: {
    env: "OLLAMA_CLOUD_MODEL",
    flag: "model",
    default: DEFAULT_CLOUD_MODEL,
    help: "Default model for cloud_chat, search_and_summarize and research (list_models shows what the cloud serves now).",
    parse: cloudModel,
  },
  timeoutMs: {
    env: "OLLAMA_CLOUD_TIMEOUT_MS",
    flag: "timeout-ms",
    default: "120000",
    ...whole(1, 3_600_000),
    help: "Milliseconds to wait for a response to start, and between chunks of a streamed answer. A long answer that keeps streaming is never cut.",
  },
  retries: {
    env: "OLLAMA_CLOUD_RETRIES",
    flag: "retries",
    default: "2",
    ...whole(0, 10),
    help: "Retries after 502/503/504, a connection reset, or a 429 with a short Retry-After (0 turns them off). Usage limits and started streams are never retried.",
  },
  searchCacheTtlMs: {
    env: "OLLAMA_SEARCH_CACHE_TTL_MS",
    flag: "search-cache-ttl-ms",
    default: "120000",
    ...whole(0, 86_400_000),
    help: "Milliseconds an identical web search is answered from memory (0 turns the cache off).",
  },
  logLevel: {
    env: "OLLAMA_MCP_LOG_LEVEL",
    flag: "log-level",
    default: "info",
    help: `Lowest level of operational log line on stderr: ${LOG_LEVELS.join(", ")}. Prompts, queries, results and the key are never logged.`,
    parse: oneOf(LOG_LEVELS),
  },
  summaryConcurrency: {
    env: "OLLAMA_SUMMARY_CONCURRENCY",
    flag: "summary-concurrency",
    default: "5",
    ...whole(1, 10),
    help: "How many pages search_and_summarize summarises at the same time (1-10).",
  },
  mode: {
    env: "OLLAMA_MODE",
    flag: "mode",
    default: "cloud",
    help: "cloud (Ollama's cloud only), local (chat stays on your Ollama), or hybrid (local first, the cloud when local cannot serve).",
    parse: oneOf(MODES),
  },
  ollamaHost: {
    env: "OLLAMA_HOST",
    flag: "ollama-host",
    default: DEFAULT_OLLAMA_HOST,
    help: "Your local Ollama, in any spelling the Ollama CLI accepts (http://host:port, host:port, 0.0.0.0:11434, :11434, 11434).",
    parse: (value) => parseOllamaHost(given(value)),
  },
  cloudVia: {
    env: "OLLAMA_CLOUD_VIA",
    flag: "cloud-via",
    default: "auto",
    help: "How to reach the cloud: direct (ollama.com with OLLAMA_API_KEY), local (through your signed-in Ollama, no key), or auto (direct with a key, else local in local/hybrid mode).",
    parse: cloudVia,
  },
  cloudFallback: {
    env: "OLLAMA_CLOUD_FALLBACK",
    flag: "cloud-fallback",
    default: "true",
    help: "In hybrid mode, run on the cloud model (OLLAMA_CLOUD_MODEL) when the local Ollama cannot serve a call. false keeps such calls on the machine.",
    parse: trueOrFalse,
  },
  localModel: {
    env: "OLLAMA_LOCAL_MODEL",
    flag: "local-model",
    default: undefined,
    help: "Default chat model in local and hybrid modes (e.g. qwen3:8b). In hybrid mode without it, OLLAMA_CLOUD_MODEL is the default.",
    parse: modelName,
  },
  researchTimeLimitMs: {
    env: "OLLAMA_RESEARCH_TIME_LIMIT_MS",
    flag: "research-time-limit-ms",
    default: "300000",
    ...whole(1_000, 3_600_000),
    help: "How long a research call may search and read before it asks the model for its best answer.",
  },
  researchResultChars: {
    env: "OLLAMA_RESEARCH_RESULT_CHARS",
    flag: "research-result-chars",
    default: "8000",
    ...whole(500, 100_000),
    help: "Characters of each search or page result that research hands back to the model (500-100000).",
  },
  upstreamConcurrency: {
    env: "OLLAMA_UPSTREAM_CONCURRENCY",
    flag: "upstream-concurrency",
    default: "16",
    ...whole(1, 1_000),
    help: "Most requests to Ollama at once; more wait in line. With MCP_HTTP_KEYS=client, each caller has this many. A plan runs 1, 3 or 10 cloud requests at once and queues the rest: set this to your plan's number to wait here instead of in the cloud's queue.",
  },
  upstreamConcurrencyTotal: {
    env: "OLLAMA_UPSTREAM_CONCURRENCY_TOTAL",
    flag: "upstream-concurrency-total",
    default: "64",
    ...whole(1, 10_000),
    help: "Most requests to Ollama at once for all callers together; more wait in line, taken in turn from each caller, and leave it when their call is cancelled.",
  },
  retryBudgetPercent: {
    env: "OLLAMA_CLOUD_RETRY_BUDGET_PERCENT",
    flag: "retry-budget-percent",
    default: "20",
    ...whole(0, 100),
    help: "Retries may be at most this percentage of the requests of the last 10 seconds (plus a few), so an outage is not met with three times the traffic.",
  },
  researchMaxCallsPerRound: {
    env: "OLLAMA_RESEARCH_MAX_CALLS_PER_ROUND",
    flag: "research-max-calls-per-round",
    default: "8",
    ...whole(1, 50),
    help: 'Tool calls research runs from one model reply; the rest are answered "not run".',
  },
  deferAfterMs: {
    env: "OLLAMA_MCP_DEFER_AFTER_MS",
    flag: "defer-after-ms",
    default: "45000",
    ...whole(0, 3_600_000),
    help: "A cloud_chat, search_and_summarize, research or consensus call still working after this long returns a job_id for get_result and goes on (Claude Desktop ends calls after about 4 minutes, and Claude Code moves them to the background after 2). 0 turns this off: calls always wait to the end.",
  },
  jobTtlMs: {
    env: "OLLAMA_MCP_JOB_TTL_MS",
    flag: "job-ttl-ms",
    default: "900000",
    ...whole(1_000, 86_400_000),
    help: "How long a finished job's result stays readable with get_result.",
  },
  maxJobs: {
    env: "OLLAMA_MCP_MAX_JOBS",
    flag: "max-jobs",
    default: "64",
    ...whole(1, 10_000),
    help: "Long calls running at once on this server; past it, a new one is refused with a message.",
  },
  maxJobsPerCaller: {
    env: "OLLAMA_MCP_MAX_JOBS_PER_CALLER",
    flag: "max-jobs-per-caller",
    default: "16",
    ...whole(1, 10_000),
    help: "Long calls one caller (one token or key, or the stdio client) may have running at once, so no caller can take every place of OLLAMA_MCP_MAX_JOBS.",
  },
  jobLeaseMs: {
    env: "OLLAMA_MCP_JOB_LEASE_MS",
    flag: "job-lease-ms",
    default: "15000",
    ...whole(300, 600_000),
    help: "With a shared store: a running job's server renews its lease every third of this; a job whose lease runs out is reported lost.",
  },
  store: {
    env: "OLLAMA_MCP_STORE",
    flag: "store",
    default: "memory",
    help: "Where deferred jobs are kept: memory (this process), or a redis:// or rediss:// URL (Redis 6+ or Valkey) shared by several instances behind a load balancer.",
    parse: parseStoreSetting,
  },
  storeTimeoutMs: {
    env: "OLLAMA_MCP_STORE_TIMEOUT_MS",
    flag: "store-timeout-ms",
    default: "3000",
    ...whole(100, 60_000),
    help: "With a Redis store: how long one command may take before the store counts as down (a Redis that hangs is then answered like one that is gone, instead of holding every request).",
  },
  tools: {
    env: "OLLAMA_MCP_TOOLS",
    flag: "tools",
    default: undefined,
    help: `Comma-separated tools to offer (default: all): ${TOOL_NAMES.join(", ")}. Every tool listed costs context in each conversation. get_result and cancel_job come with cloud_chat, search_and_summarize, research or consensus.`,
    parse: selectTools,
  },
  conversations: {
    env: "OLLAMA_MCP_CONVERSATIONS",
    flag: "conversations",
    default: "on",
    help: "on: cloud_chat keeps each conversation (prompts and answers, in OLLAMA_MCP_STORE) so it can continue by conversation_id. off: nothing is kept and no conversation_id is handed out.",
    parse: onOrOff,
  },
  conversationIdleMs: {
    env: "OLLAMA_MCP_CONVERSATION_IDLE_MS",
    flag: "conversation-idle-ms",
    default: "3600000",
    ...whole(1_000, 604_800_000),
    help: "A cloud_chat conversation with no new turn for this long is forgotten; its conversation_id then answers as unknown.",
  },
  conversationMaxChars: {
    env: "OLLAMA_MCP_CONVERSATION_MAX_CHARS",
    flag: "conversation-max-chars",
    default: "200000",
    ...whole(1_000, 10_000_000),
    help: "Characters of a conversation kept for the next turn; past it the oldest messages are dropped, and the result says so. An exchange larger than this alone is answered but not kept.",
  },
  maxConversationsPerCaller: {
    env: "OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER",
    flag: "max-conversations-per-caller",
    default: "100",
    ...whole(1, 100_000),
    help: "Conversations one caller may keep; past it, the least recently used is forgotten.",
  },
  maxConversations: {
    env: "OLLAMA_MCP_MAX_CONVERSATIONS",
    flag: "max-conversations",
    default: "10000",
    ...whole(1, 10_000_000),
    help: "Conversations kept for all callers together; past it, the least recently used is forgotten.",
  },
  imageMaxBytes: {
    env: "OLLAMA_MCP_IMAGE_MAX_BYTES",
    flag: "image-max-bytes",
    default: "10485760",
    ...whole(1_024, 104_857_600),
    help: "Largest image (decoded) cloud_chat takes.",
  },
  imagesMaxTotalBytes: {
    env: "OLLAMA_MCP_IMAGES_MAX_TOTAL_BYTES",
    flag: "images-max-total-bytes",
    default: "20971520",
    ...whole(1_024, 268_435_456),
    help: "Largest total of the images of one cloud_chat call.",
  },
  consensusModels: {
    env: "OLLAMA_CONSENSUS_MODELS",
    flag: "consensus-models",
    default: undefined,
    help: "Comma-separated models (2 to 5) consensus asks when a call names none. Unset: OLLAMA_CLOUD_MODEL and two models of other families from list_models.",
    parse: consensusModels,
  },
  maxMessageBytes: {
    env: "OLLAMA_MCP_MAX_MESSAGE_BYTES",
    flag: "max-message-bytes",
    default: "33554432",
    ...whole(1_024, 268_435_456),
    help: "Largest message read on stdio; a larger one is answered with an error and the server goes on.",
  },
} as const satisfies Record<string, Setting>;

export const HTTP_SETTINGS = {
  enabled: {
    env: "MCP_HTTP",
    flag: "http",
    default: "false",
    ...onSwitch,
    help: "Serve MCP over Streamable HTTP at /mcp instead of stdio.",
  },
  host: {
    env: "MCP_HTTP_HOST",
    flag: "host",
    default: "127.0.0.1",
    help: "Address to listen on. Anything but loopback needs MCP_HTTP_TOKEN.",
    parse: (value) => given(value).replace(/^\[|\]$/g, ""),
  },
  port: {
    env: "MCP_HTTP_PORT",
    flag: "port",
    default: "3333",
    ...whole(0, 65_535),
    help: "Port to listen on (0 picks a free one).",
  },
  stateless: {
    env: "MCP_HTTP_STATELESS",
    flag: "stateless",
    default: "false",
    ...onSwitch,
    help: "No sessions for 2025-era clients either (2026-07-28 clients never have one): a fresh server per request, so any instance behind a load balancer can answer. Such a client can then cancel a call only by closing its request.",
  },
  keys: {
    env: "MCP_HTTP_KEYS",
    flag: "http-keys",
    default: "server",
    help: "server: every call uses the server's OLLAMA_API_KEY. client: each caller sends its own Ollama API key as its bearer token, and its calls run on (and are billed to) its own account; the server holds no key and needs no MCP_HTTP_TOKEN. Put TLS in front of it.",
    parse: oneOf(["server", "client"]),
  },
  auth: {
    env: "MCP_HTTP_AUTH",
    flag: "http-auth",
    default: "token",
    help: "token: callers send MCP_HTTP_TOKEN, or with MCP_HTTP_KEYS=client their Ollama key, as a bearer token. oauth: the server is its own OAuth authorization server, and people sign in with their Ollama API key, as claude.ai, Claude Desktop and ChatGPT connectors need; it takes MCP_PUBLIC_URL and MCP_OAUTH_SECRET.",
    parse: oneOf(["token", "oauth"]),
  },
  publicUrl: {
    env: "MCP_PUBLIC_URL",
    flag: "public-url",
    default: undefined,
    help: "With MCP_HTTP_AUTH=oauth: the URL clients reach the server at, without /mcp: https://, or http://localhost or http://127.0.0.1 for local use. It is the OAuth issuer, and its /mcp the resource.",
    parse: parsePublicUrl,
  },
  oauthSecret: {
    env: "MCP_OAUTH_SECRET",
    flag: undefined,
    default: undefined,
    help: "With MCP_HTTP_AUTH=oauth: at least 32 random bytes (openssl rand -base64 32) that protect the tokens and the Ollama keys kept for signed-in users. Changing it signs everyone out. No flag: command lines are visible to other users.",
    parse: text,
  },
  oauthSecretFile: {
    env: "MCP_OAUTH_SECRET_FILE",
    flag: "oauth-secret-file",
    default: undefined,
    help: "A file holding MCP_OAUTH_SECRET (for secrets mounted as files).",
    parse: text,
  },
  oauthRedirectHosts: {
    env: "MCP_OAUTH_REDIRECT_HOSTS",
    flag: "oauth-redirect-hosts",
    default: "claude.ai,claude.com,chatgpt.com,vscode.dev,loopback",
    help: "Comma-separated hosts an OAuth client may ask to be sent back to (https only, or loopback on any port): the known connectors' callback hosts, and loopback for local clients such as Claude Code.",
    parse: parseHostNames,
  },
  oauthClientIdHosts: {
    env: "MCP_OAUTH_CLIENT_ID_HOSTS",
    flag: "oauth-client-id-hosts",
    default: "",
    help: 'Comma-separated hosts whose client metadata documents (a client_id that is an https URL, as Claude, Claude Code, ChatGPT and VS Code send) may be fetched; empty for any public host. "loopback" admits loopback hosts, for local use.',
    parse: parseHostNames,
  },
  oauthAccessTtlMs: {
    env: "MCP_OAUTH_ACCESS_TTL_MS",
    flag: "oauth-access-ttl-ms",
    default: "3600000",
    ...whole(1_000, 86_400_000),
    help: "How long an OAuth access token lasts; the client then refreshes it.",
  },
  oauthRefreshTtlMs: {
    env: "MCP_OAUTH_REFRESH_TTL_MS",
    flag: "oauth-refresh-ttl-ms",
    default: "2592000000",
    ...whole(60_000, 31_536_000_000),
    help: "How long a signed-in user stays signed in without using the server: a refresh token lasts this long, and each use replaces it with a new one.",
  },
  trustedProxies: {
    env: "MCP_HTTP_TRUSTED_PROXIES",
    flag: "http-trusted-proxies",
    default: "loopback",
    help: "With MCP_HTTP_AUTH=oauth: the reverse proxies whose X-Forwarded-For header names the client, for the per-address limits on sign-in: loopback, linklocal, uniquelocal (private networks), addresses and CIDR ranges, comma-separated. Requests from anywhere else count by their own address.",
    parse: parseProxyRanges,
  },
  token: {
    env: "MCP_HTTP_TOKEN",
    flag: "http-token",
    default: undefined,
    help: "Bearer token every HTTP request must carry. Prefer the env var: flags are visible in process lists.",
    parse: text,
  },
  allowedOrigins: {
    env: "MCP_HTTP_ALLOWED_ORIGINS",
    flag: "allowed-origins",
    default: undefined,
    help: 'Comma-separated browser origins allowed besides loopback ones (e.g. https://app.example.com), or "*".',
    parse: list,
  },
  allowedHosts: {
    env: "MCP_HTTP_ALLOWED_HOSTS",
    flag: "allowed-hosts",
    default: undefined,
    help: "Comma-separated Host names accepted (DNS rebinding protection). Default: loopback names when bound to loopback, any otherwise.",
    parse: (value) => list(value).map((host) => host.toLowerCase()),
  },
  maxSessions: {
    env: "MCP_HTTP_MAX_SESSIONS",
    flag: "max-sessions",
    default: "500",
    ...whole(1, 100_000),
    help: "Most concurrent sessions; past it, new sessions get 503.",
  },
  maxSessionsPerClient: {
    env: "MCP_HTTP_MAX_SESSIONS_PER_CLIENT",
    flag: "max-sessions-per-client",
    default: "100",
    ...whole(1, 100_000),
    help: "Most sessions one client (one token or key, or one loopback address) may hold, so no client can take them all.",
  },
  sessionIdleMs: {
    env: "MCP_HTTP_SESSION_IDLE_MS",
    flag: "session-idle-ms",
    default: "1800000",
    ...whole(1_000, 604_800_000),
    help: "A session unused this long is closed.",
  },
  handshakeTimeoutMs: {
    env: "MCP_HTTP_HANDSHAKE_TIMEOUT_MS",
    flag: "handshake-timeout-ms",
    default: "30000",
    ...whole(1_000, 3_600_000),
    help: "A session whose client never completes the handshake (notifications/initialized) is closed after this long.",
  },
  maxBodyBytes: {
    env: "MCP_HTTP_MAX_BODY_BYTES",
    flag: "max-body-bytes",
    default: "4194304",
    ...whole(1_024, 104_857_600),
    help: "Largest request body accepted; larger ones get 413.",
  },
  bodyTimeoutMs: {
    env: "MCP_HTTP_BODY_TIMEOUT_MS",
    flag: "body-timeout-ms",
    default: "10000",
    ...whole(100, 600_000),
    help: "How long a request body may take to arrive; a slower one gets 408 and its connection is closed.",
  },
  maxConnections: {
    env: "MCP_HTTP_MAX_CONNECTIONS",
    flag: "max-connections",
    default: "1024",
    ...whole(1, 1_000_000),
    help: "Most open connections in all; past it, new ones get 503 and are closed.",
  },
  maxConnectionsPerAddress: {
    env: "MCP_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
    flag: "max-connections-per-address",
    default: "128",
    ...whole(1, 1_000_000),
    help: "Most open connections from one remote address (behind a reverse proxy every client shares its address: raise it there).",
  },
  shutdownGraceMs: {
    env: "MCP_HTTP_SHUTDOWN_GRACE_MS",
    flag: "shutdown-grace-ms",
    default: "10000",
    ...whole(0, 600_000),
    help: "On SIGINT/SIGTERM (and on stdio when stdin ends), how long calls in flight may run before they are answered with a shutting-down error. Applies to stdio too.",
  },
} as const satisfies Record<string, Setting>;

export type ServerConfig = SettingValues<typeof SETTINGS>;
export type HttpOptions = SettingValues<typeof HTTP_SETTINGS>;

/** Layers defaults < environment < flags (keyed by flag name), and parses each value. */
export function resolveConfig(flags: Flags, env: Env): ServerConfig {
  return resolveSettings(SETTINGS, flags, env);
}

export function resolveHttpOptions(flags: Flags, env: Env): HttpOptions {
  return resolveSettings(HTTP_SETTINGS, flags, env);
}

export { ConfigError, DEFAULT_CLOUD_HOST, DEFAULT_OLLAMA_HOST, type Setting };
