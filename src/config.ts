import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ModelNameError, parseModelRef } from "./model-name.js";
import type { StoreSetting } from "./store/store.js";
import { JOB_TOOLS, LONG_TOOLS, TOOL_NAMES, type ToolName } from "./tools/all.js";
import { API_KEYS_URL } from "./upstream/errors.js";

export const DEFAULT_CLOUD_HOST = "https://ollama.com";
export const DEFAULT_CLOUD_MODEL = "gpt-oss:120b";

export type LogLevel = "debug" | "info" | "warning" | "error" | "off";
export type Mode = "cloud" | "local" | "hybrid";
export type CloudVia = "direct" | "local";
const MODES: readonly Mode[] = ["cloud", "local", "hybrid"];
export const DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434";
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error", "off"];

export interface ServerConfig {
  /** The ollama.com key without any `Bearer ` prefix; undefined when not configured. */
  apiKey: string | undefined;
  /** Base URL of the cloud API, without a trailing slash. */
  cloudHost: string;
  defaultModel: string;
  /** Bounds the wait for a response, and for each chunk of a stream. */
  timeoutMs: number;
  /** Extra attempts after a transient failure (0 turns retries off). */
  retries: number;
  /** How long identical web searches are answered from memory (0 turns the cache off). */
  searchCacheTtlMs: number;
  /** The lowest level of operational log line written to stderr. */
  logLevel: LogLevel;
  /** How many pages search_and_summarize summarises at once. */
  summaryConcurrency: number;
  /** cloud: only Ollama's cloud; local: chat on the local Ollama; hybrid: local first, cloud when needed. */
  mode: Mode;
  /** The local Ollama server, as a base URL. */
  ollamaHost: string;
  /** How cloud-bound calls travel: to ollama.com with the key, or through the local Ollama's proxy. */
  cloudVia: CloudVia;
  /** In hybrid mode, whether a call the local server cannot serve may run on the cloud instead. */
  cloudFallback: boolean;
  /** Default chat model in local and hybrid modes; undefined means OLLAMA_CLOUD_MODEL (hybrid). */
  localModel: string | undefined;
  /** Wall-clock bound of a research loop before it asks for its best answer. */
  researchTimeLimitMs: number;
  /** Characters of one tool result that go back to the model in a research loop. */
  researchResultChars: number;
  /** Most upstream requests at once (per caller when callers bring their own keys). */
  upstreamConcurrency: number;
  /** Most upstream requests at once for all callers together. */
  upstreamConcurrencyTotal: number;
  /** Retries as a percentage of recent requests. */
  retryBudgetPercent: number;
  /** Tool calls run from one model reply in a research loop; the rest are answered "not run". */
  researchMaxCallsPerRound: number;
  /** The longest message read on stdio. */
  maxMessageBytes: number;
  /** A long call still running after this long returns a job handle; 0 turns deferral off. */
  deferAfterMs: number;
  /** How long a finished job's result stays readable. */
  jobTtlMs: number;
  /** Long calls running at once on this server. */
  maxJobs: number;
  /** Long calls one caller may have running at once on this server. */
  maxJobsPerCaller: number;
  /** How long a running job's lease lasts unless its server renews it. */
  jobLeaseMs: number;
  /** Where jobs (and conversations) are kept. */
  store: StoreSetting;
  /** How long one store command may take before the store counts as down. */
  storeTimeoutMs: number;
  /** The tools this server offers; the others are absent from tools/list and refused. */
  tools: readonly ToolName[];
  /** Whether cloud_chat keeps conversations (and hands out conversation_id) at all. */
  conversations: boolean;
  /** A conversation with no new turn for this long is forgotten. */
  conversationIdleMs: number;
  /** Conversations one caller may keep; past it the least recently used is forgotten. */
  maxConversationsPerCaller: number;
  /** Conversations kept for all callers together; past it the least recently used is forgotten. */
  maxConversations: number;
  /** Characters of a conversation's turns that are kept. */
  conversationMaxChars: number;
  /** Bytes of one image a cloud_chat call may carry. */
  imageMaxBytes: number;
  /** Bytes of all the images of one call. */
  imagesMaxTotalBytes: number;
  /** The models consensus asks when a call names none; undefined: chosen from list_models. */
  consensusModels: readonly string[] | undefined;
}

export interface HttpOptions {
  enabled: boolean;
  host: string;
  port: number;
  stateless: boolean;
  /** Bearer token every request must carry; undefined means no auth (loopback only). */
  token: string | undefined;
  /** Origins allowed besides loopback ones; "*" allows any. */
  allowedOrigins: string[];
  /** Host header names allowed; empty means loopback names when bound to loopback, else any. */
  allowedHosts: string[];
  maxSessions: number;
  /** Sessions one identity (a token, a caller's key, a loopback address) may hold. */
  maxSessionsPerClient: number;
  sessionIdleMs: number;
  /** A session whose client never sent notifications/initialized is closed this soon. */
  handshakeTimeoutMs: number;
  maxBodyBytes: number;
  /** How long a request body may take to arrive. */
  bodyTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  shutdownGraceMs: number;
  /** server: the server's own OLLAMA_API_KEY; client: each caller's bearer token is its Ollama key. */
  keys: "server" | "client";
  /** token: a bearer token or key as above; oauth: users sign in with their Ollama key. */
  auth: "token" | "oauth";
  /** The base URL clients reach, without a trailing slash: the OAuth issuer; /mcp on it is the resource. */
  publicUrl: string | undefined;
  /** At least 32 random bytes; tokens and stored keys are protected with it. Never from a flag. */
  oauthSecret: string | undefined;
  /** A file holding MCP_OAUTH_SECRET instead. */
  oauthSecretFile: string | undefined;
  /** Hosts OAuth redirect URIs may point at; "loopback" allows 127.0.0.1, [::1] and localhost. */
  oauthRedirectHosts: string[];
  /** Hosts whose client metadata documents may be fetched (empty: any public host). */
  oauthClientIdHosts: string[];
  oauthAccessTtlMs: number;
  oauthRefreshTtlMs: number;
  /** Proxies trusted to name the client in X-Forwarded-For (Express's "trust proxy" list). */
  trustedProxies: string[];
}

export type CliAction =
  | {
      kind: "serve";
      config: ServerConfig;
      http: HttpOptions;
      /** Settings given that this start does not use, each with why: said on stderr. */
      warnings: string[];
    }
  | { kind: "help" }
  | { kind: "version" };

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;
type Flags = Partial<Record<string, string>>;

export interface Setting {
  env: string;
  /** The flag twin; the key has none on purpose: command lines are visible to every user. */
  flag: string | undefined;
  default: string | undefined;
  help: string;
  /** A switch: the flag takes no value, the env var takes true/false or 1/0. */
  boolean?: true;
  /** A whole number within these bounds. */
  range?: readonly [number, number];
}

export const SETTINGS = {
  apiKey: {
    env: "OLLAMA_API_KEY",
    flag: undefined,
    default: undefined,
    help: `API key for ollama.com (create one at ${API_KEYS_URL}). A leading "Bearer " is accepted.`,
  },
  cloudHost: {
    env: "OLLAMA_CLOUD_HOST",
    flag: "cloud-host",
    default: DEFAULT_CLOUD_HOST,
    help: "Base URL of Ollama's cloud API. Plain http:// is only allowed for loopback hosts.",
  },
  defaultModel: {
    env: "OLLAMA_CLOUD_MODEL",
    flag: "model",
    default: DEFAULT_CLOUD_MODEL,
    help: "Default model for cloud_chat, search_and_summarize and research (list_models shows what the cloud serves now).",
  },
  timeoutMs: {
    env: "OLLAMA_CLOUD_TIMEOUT_MS",
    flag: "timeout-ms",
    default: "120000",
    range: [1, 3_600_000],
    help: "Milliseconds to wait for a response to start, and between chunks of a streamed answer. A long answer that keeps streaming is never cut.",
  },
  retries: {
    env: "OLLAMA_CLOUD_RETRIES",
    flag: "retries",
    default: "2",
    range: [0, 10],
    help: "Retries after 502/503/504, a connection reset, or a 429 with a short Retry-After (0 turns them off). Usage limits and started streams are never retried.",
  },
  searchCacheTtlMs: {
    env: "OLLAMA_SEARCH_CACHE_TTL_MS",
    flag: "search-cache-ttl-ms",
    default: "120000",
    range: [0, 86_400_000],
    help: "Milliseconds an identical web search is answered from memory (0 turns the cache off).",
  },
  logLevel: {
    env: "OLLAMA_MCP_LOG_LEVEL",
    flag: "log-level",
    default: "info",
    help: `Lowest level of operational log line on stderr: ${LOG_LEVELS.join(", ")}. Prompts, queries, results and the key are never logged.`,
  },
  summaryConcurrency: {
    env: "OLLAMA_SUMMARY_CONCURRENCY",
    flag: "summary-concurrency",
    default: "5",
    range: [1, 10],
    help: "How many pages search_and_summarize summarises at the same time (1-10).",
  },
  mode: {
    env: "OLLAMA_MODE",
    flag: "mode",
    default: "cloud",
    help: "cloud (Ollama's cloud only), local (chat stays on your Ollama), or hybrid (local first, the cloud when local cannot serve).",
  },
  ollamaHost: {
    env: "OLLAMA_HOST",
    flag: "ollama-host",
    default: DEFAULT_OLLAMA_HOST,
    help: "Your local Ollama, in any spelling the Ollama CLI accepts (http://host:port, host:port, 0.0.0.0:11434, :11434, 11434).",
  },
  cloudVia: {
    env: "OLLAMA_CLOUD_VIA",
    flag: "cloud-via",
    default: "auto",
    help: "How to reach the cloud: direct (ollama.com with OLLAMA_API_KEY), local (through your signed-in Ollama, no key), or auto (direct with a key, else local in local/hybrid mode).",
  },
  cloudFallback: {
    env: "OLLAMA_CLOUD_FALLBACK",
    flag: "cloud-fallback",
    default: "true",
    help: "In hybrid mode, run on the cloud model (OLLAMA_CLOUD_MODEL) when the local Ollama cannot serve a call. false keeps such calls on the machine.",
  },
  localModel: {
    env: "OLLAMA_LOCAL_MODEL",
    flag: "local-model",
    default: undefined,
    help: "Default chat model in local and hybrid modes (e.g. qwen3:8b). In hybrid mode without it, OLLAMA_CLOUD_MODEL is the default.",
  },
  researchTimeLimitMs: {
    env: "OLLAMA_RESEARCH_TIME_LIMIT_MS",
    flag: "research-time-limit-ms",
    default: "300000",
    range: [1_000, 3_600_000],
    help: "How long a research call may search and read before it asks the model for its best answer.",
  },
  researchResultChars: {
    env: "OLLAMA_RESEARCH_RESULT_CHARS",
    flag: "research-result-chars",
    default: "8000",
    range: [500, 100_000],
    help: "Characters of each search or page result that research hands back to the model (500-100000).",
  },
  upstreamConcurrency: {
    env: "OLLAMA_UPSTREAM_CONCURRENCY",
    flag: "upstream-concurrency",
    default: "16",
    range: [1, 1_000],
    help: "Most requests to Ollama at once; more wait in line. With MCP_HTTP_KEYS=client, each caller has this many. A plan runs 1, 3 or 10 cloud requests at once and queues the rest: set this to your plan's number to wait here instead of in the cloud's queue.",
  },
  upstreamConcurrencyTotal: {
    env: "OLLAMA_UPSTREAM_CONCURRENCY_TOTAL",
    flag: "upstream-concurrency-total",
    default: "64",
    range: [1, 10_000],
    help: "Most requests to Ollama at once for all callers together; more wait in line, taken in turn from each caller, and leave it when their call is cancelled.",
  },
  retryBudgetPercent: {
    env: "OLLAMA_CLOUD_RETRY_BUDGET_PERCENT",
    flag: "retry-budget-percent",
    default: "20",
    range: [0, 100],
    help: "Retries may be at most this percentage of the requests of the last 10 seconds (plus a few), so an outage is not met with three times the traffic.",
  },
  researchMaxCallsPerRound: {
    env: "OLLAMA_RESEARCH_MAX_CALLS_PER_ROUND",
    flag: "research-max-calls-per-round",
    default: "8",
    range: [1, 50],
    help: 'Tool calls research runs from one model reply; the rest are answered "not run".',
  },
  deferAfterMs: {
    env: "OLLAMA_MCP_DEFER_AFTER_MS",
    flag: "defer-after-ms",
    default: "45000",
    range: [0, 3_600_000],
    help: "A cloud_chat, search_and_summarize, research or consensus call still working after this long returns a job_id for get_result and goes on (Claude Desktop ends calls after about 4 minutes, and Claude Code moves them to the background after 2). 0 turns this off: calls always wait to the end.",
  },
  jobTtlMs: {
    env: "OLLAMA_MCP_JOB_TTL_MS",
    flag: "job-ttl-ms",
    default: "900000",
    range: [1_000, 86_400_000],
    help: "How long a finished job's result stays readable with get_result.",
  },
  maxJobs: {
    env: "OLLAMA_MCP_MAX_JOBS",
    flag: "max-jobs",
    default: "64",
    range: [1, 10_000],
    help: "Long calls running at once on this server; past it, a new one is refused with a message.",
  },
  maxJobsPerCaller: {
    env: "OLLAMA_MCP_MAX_JOBS_PER_CALLER",
    flag: "max-jobs-per-caller",
    default: "16",
    range: [1, 10_000],
    help: "Long calls one caller (one token or key, or the stdio client) may have running at once, so no caller can take every place of OLLAMA_MCP_MAX_JOBS.",
  },
  jobLeaseMs: {
    env: "OLLAMA_MCP_JOB_LEASE_MS",
    flag: "job-lease-ms",
    default: "15000",
    range: [300, 600_000],
    help: "With a shared store: a running job's server renews its lease every third of this; a job whose lease runs out is reported lost.",
  },
  store: {
    env: "OLLAMA_MCP_STORE",
    flag: "store",
    default: "memory",
    help: "Where deferred jobs are kept: memory (this process), or a redis:// or rediss:// URL (Redis 6+ or Valkey) shared by several instances behind a load balancer.",
  },
  storeTimeoutMs: {
    env: "OLLAMA_MCP_STORE_TIMEOUT_MS",
    flag: "store-timeout-ms",
    default: "3000",
    range: [100, 60_000],
    help: "With a Redis store: how long one command may take before the store counts as down (a Redis that hangs is then answered like one that is gone, instead of holding every request).",
  },
  tools: {
    env: "OLLAMA_MCP_TOOLS",
    flag: "tools",
    default: undefined,
    help: `Comma-separated tools to offer (default: all): ${TOOL_NAMES.join(", ")}. Every tool listed costs context in each conversation. get_result and cancel_job come with cloud_chat, search_and_summarize, research or consensus.`,
  },
  conversations: {
    env: "OLLAMA_MCP_CONVERSATIONS",
    flag: "conversations",
    default: "on",
    help: "on: cloud_chat keeps each conversation (prompts and answers, in OLLAMA_MCP_STORE) so it can continue by conversation_id. off: nothing is kept and no conversation_id is handed out.",
  },
  conversationIdleMs: {
    env: "OLLAMA_MCP_CONVERSATION_IDLE_MS",
    flag: "conversation-idle-ms",
    default: "3600000",
    range: [1_000, 604_800_000],
    help: "A cloud_chat conversation with no new turn for this long is forgotten; its conversation_id then answers as unknown.",
  },
  conversationMaxChars: {
    env: "OLLAMA_MCP_CONVERSATION_MAX_CHARS",
    flag: "conversation-max-chars",
    default: "200000",
    range: [1_000, 10_000_000],
    help: "Characters of a conversation kept for the next turn; past it the oldest messages are dropped, and the result says so. An exchange larger than this alone is answered but not kept.",
  },
  maxConversationsPerCaller: {
    env: "OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER",
    flag: "max-conversations-per-caller",
    default: "100",
    range: [1, 100_000],
    help: "Conversations one caller may keep; past it, the least recently used is forgotten.",
  },
  maxConversations: {
    env: "OLLAMA_MCP_MAX_CONVERSATIONS",
    flag: "max-conversations",
    default: "10000",
    range: [1, 10_000_000],
    help: "Conversations kept for all callers together; past it, the least recently used is forgotten.",
  },
  imageMaxBytes: {
    env: "OLLAMA_MCP_IMAGE_MAX_BYTES",
    flag: "image-max-bytes",
    default: "10485760",
    range: [1_024, 104_857_600],
    help: "Largest image (decoded) cloud_chat takes.",
  },
  imagesMaxTotalBytes: {
    env: "OLLAMA_MCP_IMAGES_MAX_TOTAL_BYTES",
    flag: "images-max-total-bytes",
    default: "20971520",
    range: [1_024, 268_435_456],
    help: "Largest total of the images of one cloud_chat call.",
  },
  consensusModels: {
    env: "OLLAMA_CONSENSUS_MODELS",
    flag: "consensus-models",
    default: undefined,
    help: "Comma-separated models (2 to 5) consensus asks when a call names none. Unset: OLLAMA_CLOUD_MODEL and two models of other families from list_models.",
  },
  maxMessageBytes: {
    env: "OLLAMA_MCP_MAX_MESSAGE_BYTES",
    flag: "max-message-bytes",
    default: "33554432",
    range: [1_024, 268_435_456],
    help: "Largest message read on stdio; a larger one is answered with an error and the server goes on.",
  },
} as const satisfies Record<keyof ServerConfig, Setting>;

export const HTTP_SETTINGS = {
  enabled: {
    env: "MCP_HTTP",
    flag: "http",
    default: "false",
    boolean: true,
    help: "Serve MCP over Streamable HTTP at /mcp instead of stdio.",
  },
  host: {
    env: "MCP_HTTP_HOST",
    flag: "host",
    default: "127.0.0.1",
    help: "Address to listen on. Anything but loopback needs MCP_HTTP_TOKEN.",
  },
  port: {
    env: "MCP_HTTP_PORT",
    flag: "port",
    default: "3333",
    range: [0, 65_535],
    help: "Port to listen on (0 picks a free one).",
  },
  stateless: {
    env: "MCP_HTTP_STATELESS",
    flag: "stateless",
    default: "false",
    boolean: true,
    help: "No sessions for 2025-era clients either (2026-07-28 clients never have one): a fresh server per request, so any instance behind a load balancer can answer. Such a client can then cancel a call only by closing its request.",
  },
  keys: {
    env: "MCP_HTTP_KEYS",
    flag: "http-keys",
    default: "server",
    help: "server: every call uses the server's OLLAMA_API_KEY. client: each caller sends its own Ollama API key as its bearer token, and its calls run on (and are billed to) its own account; the server holds no key and needs no MCP_HTTP_TOKEN. Put TLS in front of it.",
  },
  auth: {
    env: "MCP_HTTP_AUTH",
    flag: "http-auth",
    default: "token",
    help: "token: callers send MCP_HTTP_TOKEN, or with MCP_HTTP_KEYS=client their Ollama key, as a bearer token. oauth: the server is its own OAuth authorization server, and people sign in with their Ollama API key, as claude.ai, Claude Desktop and ChatGPT connectors need; it takes MCP_PUBLIC_URL and MCP_OAUTH_SECRET.",
  },
  publicUrl: {
    env: "MCP_PUBLIC_URL",
    flag: "public-url",
    default: undefined,
    help: "With MCP_HTTP_AUTH=oauth: the URL clients reach the server at, without /mcp: https://, or http://localhost or http://127.0.0.1 for local use. It is the OAuth issuer, and its /mcp the resource.",
  },
  oauthSecret: {
    env: "MCP_OAUTH_SECRET",
    flag: undefined,
    default: undefined,
    help: "With MCP_HTTP_AUTH=oauth: at least 32 random bytes (openssl rand -base64 32) that protect the tokens and the Ollama keys kept for signed-in users. Changing it signs everyone out. No flag: command lines are visible to other users.",
  },
  oauthSecretFile: {
    env: "MCP_OAUTH_SECRET_FILE",
    flag: "oauth-secret-file",
    default: undefined,
    help: "A file holding MCP_OAUTH_SECRET (for secrets mounted as files).",
  },
  oauthRedirectHosts: {
    env: "MCP_OAUTH_REDIRECT_HOSTS",
    flag: "oauth-redirect-hosts",
    default: "claude.ai,claude.com,chatgpt.com,vscode.dev,loopback",
    help: "Comma-separated hosts an OAuth client may ask to be sent back to (https only, or loopback on any port): the known connectors' callback hosts, and loopback for local clients such as Claude Code.",
  },
  oauthClientIdHosts: {
    env: "MCP_OAUTH_CLIENT_ID_HOSTS",
    flag: "oauth-client-id-hosts",
    default: "",
    help: 'Comma-separated hosts whose client metadata documents (a client_id that is an https URL, as Claude, Claude Code, ChatGPT and VS Code send) may be fetched; empty for any public host. "loopback" admits loopback hosts, for local use.',
  },
  oauthAccessTtlMs: {
    env: "MCP_OAUTH_ACCESS_TTL_MS",
    flag: "oauth-access-ttl-ms",
    default: "3600000",
    range: [1_000, 86_400_000],
    help: "How long an OAuth access token lasts; the client then refreshes it.",
  },
  oauthRefreshTtlMs: {
    env: "MCP_OAUTH_REFRESH_TTL_MS",
    flag: "oauth-refresh-ttl-ms",
    default: "2592000000",
    range: [60_000, 31_536_000_000],
    help: "How long a signed-in user stays signed in without using the server: a refresh token lasts this long, and each use replaces it with a new one.",
  },
  trustedProxies: {
    env: "MCP_HTTP_TRUSTED_PROXIES",
    flag: "http-trusted-proxies",
    default: "loopback",
    help: "With MCP_HTTP_AUTH=oauth: the reverse proxies whose X-Forwarded-For header names the client, for the per-address limits on sign-in: loopback, linklocal, uniquelocal (private networks), addresses and CIDR ranges, comma-separated. Requests from anywhere else count by their own address.",
  },
  token: {
    env: "MCP_HTTP_TOKEN",
    flag: "http-token",
    default: undefined,
    help: "Bearer token every HTTP request must carry. Prefer the env var: flags are visible in process lists.",
  },
  allowedOrigins: {
    env: "MCP_HTTP_ALLOWED_ORIGINS",
    flag: "allowed-origins",
    default: undefined,
    help: 'Comma-separated browser origins allowed besides loopback ones (e.g. https://app.example.com), or "*".',
  },
  allowedHosts: {
    env: "MCP_HTTP_ALLOWED_HOSTS",
    flag: "allowed-hosts",
    default: undefined,
    help: "Comma-separated Host names accepted (DNS rebinding protection). Default: loopback names when bound to loopback, any otherwise.",
  },
  maxSessions: {
    env: "MCP_HTTP_MAX_SESSIONS",
    flag: "max-sessions",
    default: "500",
    range: [1, 100_000],
    help: "Most concurrent sessions; past it, new sessions get 503.",
  },
  maxSessionsPerClient: {
    env: "MCP_HTTP_MAX_SESSIONS_PER_CLIENT",
    flag: "max-sessions-per-client",
    default: "100",
    range: [1, 100_000],
    help: "Most sessions one client (one token or key, or one loopback address) may hold, so no client can take them all.",
  },
  sessionIdleMs: {
    env: "MCP_HTTP_SESSION_IDLE_MS",
    flag: "session-idle-ms",
    default: "1800000",
    range: [1_000, 604_800_000],
    help: "A session unused this long is closed.",
  },
  handshakeTimeoutMs: {
    env: "MCP_HTTP_HANDSHAKE_TIMEOUT_MS",
    flag: "handshake-timeout-ms",
    default: "30000",
    range: [1_000, 3_600_000],
    help: "A session whose client never completes the handshake (notifications/initialized) is closed after this long.",
  },
  maxBodyBytes: {
    env: "MCP_HTTP_MAX_BODY_BYTES",
    flag: "max-body-bytes",
    default: "4194304",
    range: [1_024, 104_857_600],
    help: "Largest request body accepted; larger ones get 413.",
  },
  bodyTimeoutMs: {
    env: "MCP_HTTP_BODY_TIMEOUT_MS",
    flag: "body-timeout-ms",
    default: "10000",
    range: [100, 600_000],
    help: "How long a request body may take to arrive; a slower one gets 408 and its connection is closed.",
  },
  maxConnections: {
    env: "MCP_HTTP_MAX_CONNECTIONS",
    flag: "max-connections",
    default: "1024",
    range: [1, 1_000_000],
    help: "Most open connections in all; past it, new ones get 503 and are closed.",
  },
  maxConnectionsPerAddress: {
    env: "MCP_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
    flag: "max-connections-per-address",
    default: "128",
    range: [1, 1_000_000],
    help: "Most open connections from one remote address (behind a reverse proxy every client shares its address: raise it there).",
  },
  shutdownGraceMs: {
    env: "MCP_HTTP_SHUTDOWN_GRACE_MS",
    flag: "shutdown-grace-ms",
    default: "10000",
    range: [0, 600_000],
    help: "On SIGINT/SIGTERM (and on stdio when stdin ends), how long calls in flight may run before they are answered with a shutting-down error. Applies to stdio too.",
  },
} as const satisfies Record<keyof HttpOptions, Setting>;

export function parseCli(argv: readonly string[], env: Env): CliAction {
  let values: ReturnType<typeof parseFlags>["values"];
  try {
    values = parseFlags(argv).values;
  } catch (error) {
    const unknown = /^Unknown option '--([^']+)'/.exec((error as Error).message)?.[1];
    const meant = unknown && nearest(unknown, allFlags());
    const hint = meant ? ` Did you mean --${meant}?` : "";
    throw new ConfigError(
      `${(error as Error).message}.${hint} Run with --help to see the options.`,
    );
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const flags: Flags = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === "string") flags[name] = value;
    if (value === true) flags[name] = "true";
  }
  const config = resolveConfig(flags, env);
  const http = resolveHttpOptions(flags, env);
  if (http.keys === "client") checkCallerKeys(config, http);
  if (http.auth === "oauth") checkOAuth(config, http);
  return {
    kind: "serve",
    config,
    http,
    warnings: [...misspelledVariables(env), ...ignoredSettings(flags, env, http)],
  };
}

function allSettings(): Setting[] {
  return [...Object.values(SETTINGS), ...Object.values(HTTP_SETTINGS)];
}

function allFlags(): string[] {
  return allSettings().flatMap((setting) => (setting.flag ? [setting.flag] : []));
}

/** The Ollama server's own variables, often set in the same shell, are not typos of ours. */
const OLLAMA_OWN_VARIABLES = new Set(
  [
    "CONTEXT_LENGTH",
    "DEBUG",
    "FLASH_ATTENTION",
    "GPU_OVERHEAD",
    "INTEL_GPU",
    "KEEP_ALIVE",
    "KV_CACHE_TYPE",
    "LLM_LIBRARY",
    "LOAD_TIMEOUT",
    "MAX_LOADED_MODELS",
    "MAX_QUEUE",
    "MODELS",
    "MULTIUSER_CACHE",
    "NEW_ENGINE",
    "NOHISTORY",
    "NOPRUNE",
    "NUM_PARALLEL",
    "ORIGINS",
    "SCHED_SPREAD",
    "TMPDIR",
  ].map((name) => `OLLAMA_${name}`),
);

/**
 * Variables that look like ours but are not (OLLAMA_CLOUD_MODLE): set, and silently ignored,
 * they mislead. Only those a few edits from a setting are named, so Ollama's own variables and
 * other programs' pass unremarked.
 */
function misspelledVariables(env: Env): string[] {
  const known = allSettings().map((setting) => setting.env);
  return Object.keys(env)
    .filter(
      (name) =>
        /^(OLLAMA|MCP)_/.test(name) && !known.includes(name) && !OLLAMA_OWN_VARIABLES.has(name),
    )
    .flatMap((name) => {
      const meant = nearest(name, known);
      return meant
        ? [`${name} is not a setting of this server and is ignored: did you mean ${meant}?`]
        : [];
    });
}

/** The settings only OAuth sign-in reads. */
const OAUTH_ONLY = [
  HTTP_SETTINGS.publicUrl,
  HTTP_SETTINGS.oauthSecret,
  HTTP_SETTINGS.oauthSecretFile,
  HTTP_SETTINGS.oauthRedirectHosts,
  HTTP_SETTINGS.oauthClientIdHosts,
  HTTP_SETTINGS.oauthAccessTtlMs,
  HTTP_SETTINGS.oauthRefreshTtlMs,
  HTTP_SETTINGS.trustedProxies,
] as const;

/**
 * Settings given that this start does not read: silently ignored, they mislead. HTTP settings
 * without --http (`--port 3000` alone serves stdio), and sign-in settings without sign-in.
 */
function ignoredSettings(flags: Flags, env: Env, http: HttpOptions): string[] {
  const givenOf = (settings: readonly Setting[]) =>
    settings
      .filter(
        (setting) =>
          env[setting.env] !== undefined ||
          (setting.flag !== undefined && flags[setting.flag] !== undefined),
      )
      .map((setting) =>
        setting.flag && flags[setting.flag] !== undefined ? `--${setting.flag}` : setting.env,
      );
  const said = (given: string[], why: string) =>
    `${given.join(", ")} ${given.length === 1 ? "is" : "are"} ignored: ${why}`;
  if (!http.enabled) {
    const httpOnly = Object.values(HTTP_SETTINGS).filter(
      (setting) => setting !== HTTP_SETTINGS.enabled && setting !== HTTP_SETTINGS.shutdownGraceMs,
    );
    const given = givenOf(httpOnly);
    return given.length === 0
      ? []
      : [said(given, "this start serves stdio. Add --http (or MCP_HTTP=true) to serve HTTP.")];
  }
  if (http.auth === "oauth") return [];
  const given = givenOf(OAUTH_ONLY);
  return given.length === 0
    ? []
    : [
        said(
          given,
          "only sign-in reads that, and it is off (set MCP_HTTP_AUTH=oauth to turn it on).",
        ),
      ];
}

function authSetting(value: string): "token" | "oauth" {
  const auth = value.toLowerCase();
  if (auth !== "token" && auth !== "oauth") {
    throw new ConfigError(`MCP_HTTP_AUTH (--http-auth) must be token or oauth; got "${value}".`);
  }
  return auth;
}

/**
 * MCP_PUBLIC_URL: https://, or for local use http:// on the two names the SDK's authorization
 * server allows; a trailing /mcp is the resource's, not its.
 */
function publicUrlSetting(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `MCP_PUBLIC_URL (--public-url) must be the URL clients reach the server at, such as https://mcp.example.com; got "${value}".`,
    );
  }
  const local = url.protocol === "http:" && ["localhost", "127.0.0.1"].includes(url.hostname);
  if (url.protocol !== "https:" && !local) {
    throw new ConfigError(
      `MCP_PUBLIC_URL (--public-url) must use https:// (or http://localhost or http://127.0.0.1, for local use); got "${url.protocol}//${url.host}".`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      "MCP_PUBLIC_URL (--public-url) must be a plain URL, without credentials, query or fragment.",
    );
  }
  return url.href.replace(/\/+$/, "").replace(/\/mcp$/, "");
}

/** Host names (no scheme, port or path), and "loopback", for one of the OAuth host lists. */
function hostsSetting(hosts: string[], setting: Setting): string[] {
  for (const host of hosts) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(host)) {
      throw new ConfigError(
        `${setting.env} (--${setting.flag}) takes host names, such as claude.ai, and "loopback"; got "${host}".`,
      );
    }
  }
  return hosts.map((host) => host.toLowerCase());
}

const PROXY_RANGES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** What Express's "trust proxy" takes: named ranges, addresses, and address/prefix. */
function trustedProxiesSetting(entries: string[]): string[] {
  for (const entry of entries) {
    if (PROXY_RANGES.has(entry.toLowerCase())) continue;
    const [address = "", prefix, extra] = entry.split("/");
    // node:net only for an address: a stdio start would load it before it needs it.
    const version = process.getBuiltinModule("node:net").isIP(address);
    if (prefix !== undefined && Number(prefix) === 0) {
      throw new ConfigError(
        `MCP_HTTP_TRUSTED_PROXIES (--http-trusted-proxies) cannot trust every address ("${entry}"): any client could then name itself in X-Forwarded-For. List your proxies' addresses or ranges.`,
      );
    }
    const prefixOk =
      prefix === undefined ||
      (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
    if (!(version && prefixOk && extra === undefined)) {
      throw new ConfigError(
        `MCP_HTTP_TRUSTED_PROXIES (--http-trusted-proxies) takes loopback, linklocal, uniquelocal, addresses and CIDR ranges such as 10.0.0.0/8; got "${entry}".`,
      );
    }
  }
  return entries.map((entry) =>
    PROXY_RANGES.has(entry.toLowerCase()) ? entry.toLowerCase() : entry,
  );
}

function keysSetting(value: string): "server" | "client" {
  const keys = value.toLowerCase();
  if (keys !== "server" && keys !== "client") {
    throw new ConfigError(`MCP_HTTP_KEYS (--http-keys) must be server or client; got "${value}".`);
  }
  return keys;
}

/** Callers' own keys exclude any key or token of the server's, and a local Ollama. */
function checkCallerKeys(config: ServerConfig, http: HttpOptions): void {
  const refuse = (why: string) => {
    throw new ConfigError(`MCP_HTTP_KEYS=client (--http-keys client) ${why}`);
  };
  if (!http.enabled) refuse("is for --http: over stdio there is no caller to bring a key.");
  if (config.apiKey) {
    refuse(
      "means each caller brings its own Ollama key, so the server must hold none: unset OLLAMA_API_KEY.",
    );
  }
  if (http.token) {
    refuse(
      "takes each caller's Ollama key as its bearer token, so MCP_HTTP_TOKEN cannot be set too: unset it.",
    );
  }
  checkKeysGoToCloud(config, "caller", refuse);
}

/**
 * Keys that callers (or signed-in users) bring go to Ollama's cloud only: directly, never through
 * a local Ollama, and never over plain http:// beyond loopback.
 */
function checkKeysGoToCloud(
  config: ServerConfig,
  whose: "caller" | "user",
  refuse: (why: string) => void,
): void {
  if (config.mode !== "cloud") {
    refuse(
      `works with Ollama's cloud only, and OLLAMA_MODE is ${config.mode}: a local Ollama has its own sign-in.`,
    );
  }
  if (config.cloudVia !== "direct") {
    refuse(
      `sends each ${whose}'s key to Ollama's cloud directly: OLLAMA_CLOUD_VIA must be direct (or auto).`,
    );
  }
  const host = new URL(config.cloudHost);
  if (host.protocol === "http:" && !isLoopbackHostname(host.hostname)) {
    refuse(`would send ${whose}s' keys over plain http:// to ${host.host}: use https://.`);
  }
}

/**
 * OAuth sign-in needs the URL clients reach and a secret; each user brings their own key, so the
 * server holds none, and calls go to ollama.com directly.
 */
function checkOAuth(config: ServerConfig, http: HttpOptions): void {
  const refuse = (why: string) => {
    throw new ConfigError(`MCP_HTTP_AUTH=oauth (--http-auth oauth) ${why}`);
  };
  if (!http.enabled) refuse("is for --http: over stdio there is no one to sign in.");
  if (!http.publicUrl) {
    refuse(
      "needs MCP_PUBLIC_URL (--public-url): the URL clients reach this server at, such as https://mcp.example.com.",
    );
  }
  const publicUrl = new URL(http.publicUrl as string);
  if (publicUrl.pathname !== "/") {
    refuse(
      `serves sign-in at the root of MCP_PUBLIC_URL's host: give the origin alone, such as ${publicUrl.origin}, not a path (${publicUrl.pathname}).`,
    );
  }
  if (http.oauthSecretFile) {
    if (http.oauthSecret) refuse("takes MCP_OAUTH_SECRET or MCP_OAUTH_SECRET_FILE, not both.");
    try {
      http.oauthSecret = readFileSync(http.oauthSecretFile, "utf8").trim();
    } catch (error) {
      refuse(
        `cannot read MCP_OAUTH_SECRET_FILE (${(error as { code?: string }).code ?? "error"}).`,
      );
    }
  }
  if (!http.oauthSecret) {
    refuse(
      "needs MCP_OAUTH_SECRET: at least 32 random bytes, e.g. `openssl rand -base64 32` (from the environment or MCP_OAUTH_SECRET_FILE, never a flag).",
    );
  } else if (Buffer.byteLength(http.oauthSecret) < 32) {
    refuse(
      `needs an MCP_OAUTH_SECRET of at least 32 bytes; this one has ${Buffer.byteLength(http.oauthSecret)}. Make one with \`openssl rand -base64 32\`.`,
    );
  }
  if (http.keys === "client") {
    refuse("already takes each user's key: MCP_HTTP_KEYS=client cannot be set too.");
  }
  if (http.token) refuse("signs people in instead of a shared token: unset MCP_HTTP_TOKEN.");
  if (config.apiKey) {
    refuse(
      "runs each signed-in user's calls on their own key, so the server must hold none: unset OLLAMA_API_KEY.",
    );
  }
  checkKeysGoToCloud(config, "user", refuse);
  if (!isLoopbackHostname(http.host) && publicUrl.protocol === "http:") {
    refuse(
      `listens on ${http.host}, beyond loopback, while MCP_PUBLIC_URL is http://: keys and tokens would cross the network in the clear. Serve it behind TLS (an https:// MCP_PUBLIC_URL), or listen on loopback (MCP_HTTP_HOST=127.0.0.1).`,
    );
  }
  // Clients reach the server by its public name (through a proxy) or on loopback: any other
  // Host is refused, wherever the server listens.
  const publicHost = publicUrl.hostname.toLowerCase();
  if (http.allowedHosts.length === 0) http.allowedHosts.push("localhost", "127.0.0.1", "[::1]");
  if (!http.allowedHosts.includes(publicHost)) http.allowedHosts.push(publicHost);
}

function parseFlags(argv: readonly string[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "v" },
  };
  for (const setting of [
    ...Object.values(SETTINGS),
    ...Object.values(HTTP_SETTINGS),
  ] as Setting[]) {
    if (setting.flag) options[setting.flag] = { type: setting.boolean ? "boolean" : "string" };
  }
  return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options });
}

/** A setting's value: its flag, else its env var, else its default. */
function layered(setting: Setting, flags: Flags, env: Env): string | undefined {
  return pick(setting.flag ? flags[setting.flag] : undefined, env[setting.env]) ?? setting.default;
}

export function resolveHttpOptions(flags: Flags, env: Env): HttpOptions {
  const raw = (setting: Setting) => layered(setting, flags, env);
  const int = (setting: Setting) => integerSetting(setting, raw(setting));
  const S = HTTP_SETTINGS;
  const list = (value: string | undefined) =>
    (value ?? "")
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean);
  const host = (raw(S.host) as string).replace(/^\[|\]$/g, "");
  const options: HttpOptions = {
    enabled: booleanSetting(S.enabled, raw(S.enabled)),
    host,
    port: int(S.port),
    stateless: booleanSetting(S.stateless, raw(S.stateless)),
    token: raw(S.token),
    allowedOrigins: list(raw(S.allowedOrigins)),
    allowedHosts: list(raw(S.allowedHosts)).map((h) => h.toLowerCase()),
    maxSessions: int(S.maxSessions),
    maxSessionsPerClient: int(S.maxSessionsPerClient),
    sessionIdleMs: int(S.sessionIdleMs),
    handshakeTimeoutMs: int(S.handshakeTimeoutMs),
    maxBodyBytes: int(S.maxBodyBytes),
    bodyTimeoutMs: int(S.bodyTimeoutMs),
    maxConnections: int(S.maxConnections),
    maxConnectionsPerAddress: int(S.maxConnectionsPerAddress),
    shutdownGraceMs: int(S.shutdownGraceMs),
    keys: keysSetting(raw(S.keys) as string),
    auth: authSetting(raw(S.auth) as string),
    publicUrl: publicUrlSetting(raw(S.publicUrl)),
    oauthSecret: env[S.oauthSecret.env]?.trim() || undefined,
    oauthSecretFile: raw(S.oauthSecretFile),
    oauthRedirectHosts: hostsSetting(list(raw(S.oauthRedirectHosts)), S.oauthRedirectHosts),
    oauthClientIdHosts: hostsSetting(list(raw(S.oauthClientIdHosts)), S.oauthClientIdHosts),
    oauthAccessTtlMs: int(S.oauthAccessTtlMs),
    oauthRefreshTtlMs: int(S.oauthRefreshTtlMs),
    trustedProxies: trustedProxiesSetting(list(raw(S.trustedProxies))),
  };
  // With callers' own keys, or signed-in users, each caller authenticates upstream: there is
  // nothing of the server's to spend.
  const ownKeys = options.keys === "client" || options.auth === "oauth";
  if (options.enabled && !ownKeys && !options.token && !isLoopbackHostname(host)) {
    throw new ConfigError(
      `Refusing to listen on ${host} without a token: anyone who can reach it could spend your Ollama usage. Set MCP_HTTP_TOKEN (or --http-token), or listen on 127.0.0.1.`,
    );
  }
  return options;
}

function routingSettings(
  raw: (setting: Setting) => string | undefined,
  apiKey: string | undefined,
) {
  const mode = (raw(SETTINGS.mode) as string).toLowerCase() as Mode;
  if (!MODES.includes(mode)) {
    throw new ConfigError(
      `OLLAMA_MODE (--mode) must be cloud, local or hybrid; got "${raw(SETTINGS.mode)}".`,
    );
  }
  const via = (raw(SETTINGS.cloudVia) as string).toLowerCase();
  if (via !== "auto" && via !== "direct" && via !== "local") {
    throw new ConfigError(
      `OLLAMA_CLOUD_VIA (--cloud-via) must be direct, local or auto; got "${raw(SETTINGS.cloudVia)}".`,
    );
  }
  const cloudVia: CloudVia =
    via === "auto" ? (apiKey || mode === "cloud" ? "direct" : "local") : (via as CloudVia);
  const localModel = raw(SETTINGS.localModel);
  if (localModel) {
    try {
      parseModelRef(localModel);
    } catch (error) {
      if (error instanceof ModelNameError)
        throw new ConfigError(`OLLAMA_LOCAL_MODEL: ${error.message}`);
      throw error;
    }
  }
  return {
    mode,
    ollamaHost: parseOllamaHost(raw(SETTINGS.ollamaHost) as string),
    cloudVia,
    cloudFallback: booleanSetting(SETTINGS.cloudFallback, raw(SETTINGS.cloudFallback)),
    localModel,
  };
}

/**
 * OLLAMA_HOST as the Ollama CLI reads it: scheme defaults to http, host to 127.0.0.1, port to
 * 11434. An unspecified bind address (0.0.0.0, ::) means this machine.
 */
export function parseOllamaHost(raw: string): string {
  let value = raw.trim();
  const hadScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
  if (/^\d+$/.test(value)) value = `:${value}`;
  if (value.startsWith(":")) value = `127.0.0.1${value}`;
  if (!hadScheme) value = `http://${value}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `OLLAMA_HOST must look like http://127.0.0.1:11434, 127.0.0.1:11434 or :11434; got "${raw}".`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`OLLAMA_HOST must use http:// or https://; got "${url.protocol}".`);
  }
  if (url.hostname === "0.0.0.0") url.hostname = "127.0.0.1";
  if (url.hostname === "[::]") url.hostname = "[::1]";
  // Like Ollama: without a scheme the port defaults to 11434; with one, to the scheme's own.
  if (!hadScheme && !url.port && !/:\d+$/.test(url.host)) url.port = "11434";
  return url.href.replace(/\/+$/, "");
}

function booleanSetting(setting: Setting, value: string | undefined): boolean {
  const normalized = (value ?? "").toLowerCase();
  if (normalized === "true" || normalized === "1") return true;
  if (normalized === "false" || normalized === "0" || normalized === "") return false;
  throw new ConfigError(`${settingName(setting)} must be true or false (or 1/0); got "${value}".`);
}

/** A setting that is exactly on or off. */
function onOffSetting(setting: Setting, value: string): boolean {
  const normalized = value.toLowerCase();
  if (normalized === "on") return true;
  if (normalized === "off") return false;
  throw new ConfigError(`${settingName(setting)} must be on or off; got "${value}".`);
}

/** Layers defaults < environment < flags (keyed by flag name), then validates the result. */
export function resolveConfig(flags: Flags, env: Env): ServerConfig {
  const raw = (setting: Setting) => layered(setting, flags, env);
  const int = (setting: Setting) => integerSetting(setting, raw(setting));
  const apiKey = normalizeApiKey(env[SETTINGS.apiKey.env]);
  return {
    apiKey,
    cloudHost: normalizeCloudHost(raw(SETTINGS.cloudHost) as string, apiKey !== undefined),
    defaultModel: validateDefaultModel(raw(SETTINGS.defaultModel) as string),
    timeoutMs: int(SETTINGS.timeoutMs),
    retries: int(SETTINGS.retries),
    searchCacheTtlMs: int(SETTINGS.searchCacheTtlMs),
    logLevel: logLevelSetting(raw(SETTINGS.logLevel) as string),
    summaryConcurrency: int(SETTINGS.summaryConcurrency),
    ...routingSettings(raw, apiKey),
    researchTimeLimitMs: int(SETTINGS.researchTimeLimitMs),
    researchResultChars: int(SETTINGS.researchResultChars),
    upstreamConcurrency: int(SETTINGS.upstreamConcurrency),
    upstreamConcurrencyTotal: int(SETTINGS.upstreamConcurrencyTotal),
    retryBudgetPercent: int(SETTINGS.retryBudgetPercent),
    researchMaxCallsPerRound: int(SETTINGS.researchMaxCallsPerRound),
    maxMessageBytes: int(SETTINGS.maxMessageBytes),
    deferAfterMs: int(SETTINGS.deferAfterMs),
    jobTtlMs: int(SETTINGS.jobTtlMs),
    maxJobs: int(SETTINGS.maxJobs),
    maxJobsPerCaller: int(SETTINGS.maxJobsPerCaller),
    jobLeaseMs: int(SETTINGS.jobLeaseMs),
    store: storeSetting(raw(SETTINGS.store) as string),
    storeTimeoutMs: int(SETTINGS.storeTimeoutMs),
    tools: toolsSetting(raw(SETTINGS.tools), int(SETTINGS.deferAfterMs) > 0),
    conversations: onOffSetting(SETTINGS.conversations, raw(SETTINGS.conversations) as string),
    conversationIdleMs: int(SETTINGS.conversationIdleMs),
    maxConversationsPerCaller: int(SETTINGS.maxConversationsPerCaller),
    maxConversations: int(SETTINGS.maxConversations),
    conversationMaxChars: int(SETTINGS.conversationMaxChars),
    imageMaxBytes: int(SETTINGS.imageMaxBytes),
    imagesMaxTotalBytes: int(SETTINGS.imagesMaxTotalBytes),
    consensusModels: consensusModelsSetting(raw(SETTINGS.consensusModels)),
  };
}

/** OLLAMA_CONSENSUS_MODELS: 2 to 5 distinct model names in Ollama's grammar. */
function consensusModelsSetting(value: string | undefined): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const names = [
    ...new Set(
      value
        .split(",")
        .map((name) => name.trim())
        .filter(Boolean),
    ),
  ];
  if (names.length < 2 || names.length > 5) {
    throw new ConfigError(
      `OLLAMA_CONSENSUS_MODELS (--consensus-models) must name 2 to 5 different models, comma-separated; got ${names.length}.`,
    );
  }
  for (const name of names) {
    try {
      parseModelRef(name);
    } catch (error) {
      if (error instanceof ModelNameError) {
        throw new ConfigError(`OLLAMA_CONSENSUS_MODELS: ${error.message}`);
      }
      throw error;
    }
  }
  return names;
}

/**
 * OLLAMA_MCP_TOOLS: a comma list of tool names, or all of them. A long tool can hand back a
 * job_id, so while deferral is on, get_result and cancel_job come with it. Unset (or blank)
 * means all; a value that names no tool at all is a mistake, not "all".
 */
export function toolsSetting(value: string | undefined, deferring: boolean): readonly ToolName[] {
  if (value === undefined) return TOOL_NAMES;
  const names = value
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 1 && names[0] === "all") return TOOL_NAMES;
  if (names.length === 0) {
    throw new ConfigError(
      `OLLAMA_MCP_TOOLS (--tools) names no tool ("${value}"): give a comma-separated list of ${TOOL_NAMES.join(", ")}, or all.`,
    );
  }
  const unknown = names.filter((name) => !(TOOL_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    const guesses = unknown.flatMap((name) => {
      const near = nearest(name, TOOL_NAMES);
      return near ? [`"${name}" is maybe ${near}`] : [];
    });
    throw new ConfigError(
      `OLLAMA_MCP_TOOLS (--tools) names ${unknown.map((n) => `"${n}"`).join(", ")}, which this server does not have; the tools are: ${TOOL_NAMES.join(", ")}.${guesses.length > 0 ? ` (${guesses.join("; ")}?)` : ""}`,
    );
  }
  const chosen = new Set(names as ToolName[]);
  if (deferring && LONG_TOOLS.some((name) => chosen.has(name))) {
    for (const name of JOB_TOOLS) chosen.add(name);
  }
  return TOOL_NAMES.filter((name) => chosen.has(name));
}

/** The candidate a mistyped name most likely meant: a few edits away, or the same without "_". */
function nearest(name: string, candidates: readonly string[]): string | undefined {
  const plain = (text: string) => text.replace(/[_-]/g, "");
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = plain(name) === plain(candidate) ? 0 : editDistance(name, candidate);
    if (
      distance <= Math.max(2, Math.floor(candidate.length / 4)) &&
      distance < (best?.distance ?? Infinity)
    ) {
      best = { candidate, distance };
    }
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(
        Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** OLLAMA_MCP_STORE: "memory", or a Redis URL. A refused value is never echoed whole: it may hold a password. */
export function storeSetting(value: string): StoreSetting {
  if (value.toLowerCase() === "memory") return { kind: "memory" };
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname) {
    return { kind: "redis", url: value };
  }
  const got = url
    ? `a ${url.protocol}// URL`
    : value.includes("@")
      ? "something else"
      : `"${value}"`;
  throw new ConfigError(
    `OLLAMA_MCP_STORE (--store) must be memory, or a redis:// or rediss:// URL such as redis://127.0.0.1:6379; got ${got}.`,
  );
}

function integerSetting(setting: Setting, value: string | undefined): number {
  const [min, max] = setting.range ?? [0, Number.MAX_SAFE_INTEGER];
  const parsed = Number(value);
  if (!value || !/^\d+$/.test(value) || parsed < min || parsed > max) {
    throw new ConfigError(
      `${settingName(setting)} must be a whole number from ${min} to ${max}; got "${value}".`,
    );
  }
  return parsed;
}

/** How messages name a setting: its variable, and its flag when it has one. */
function settingName(setting: Setting): string {
  return setting.flag ? `${setting.env} (--${setting.flag})` : setting.env;
}

function logLevelSetting(value: string): LogLevel {
  const level = value.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    throw new ConfigError(
      `OLLAMA_MCP_LOG_LEVEL (--log-level) must be one of ${LOG_LEVELS.join(", ")}; got "${value}".`,
    );
  }
  return level;
}

function validateDefaultModel(name: string): string {
  // OLLAMA_CLOUD_MODEL is the cloud default and the hybrid fallback, so it cannot be local-only.
  try {
    const ref = parseModelRef(name);
    if (ref.placement === "local") {
      throw new ConfigError(
        `OLLAMA_CLOUD_MODEL must be a cloud model; "${name}" is marked ":local".`,
      );
    }
    return ref.input;
  } catch (error) {
    if (error instanceof ModelNameError) {
      throw new ConfigError(`OLLAMA_CLOUD_MODEL: ${error.message}`);
    }
    throw error;
  }
}

/**
 * A `${user_config.x}` left as it is: Claude Desktop passes an MCP Bundle's optional setting that
 * way when the user left it empty. It means "not set".
 */
const UNFILLED_PLACEHOLDER = /^\$\{user_config\.[\w.-]+\}$/;

/** The first value that is set and not blank, trimmed. */
function pick(...values: (string | undefined)[]): string | undefined {
  for (const value of values) {
    const trimmed = value?.trim();
    if (trimmed && !UNFILLED_PLACEHOLDER.test(trimmed)) return trimmed;
  }
  return undefined;
}

export function normalizeApiKey(raw: string | undefined): string | undefined {
  const key = pick(raw)
    ?.replace(/^bearer\s+/i, "")
    .trim();
  return key ? key : undefined;
}

export function normalizeCloudHost(raw: string, hasKey: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `OLLAMA_CLOUD_HOST must be an absolute http(s) URL such as ${DEFAULT_CLOUD_HOST}; got "${raw}".`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(
      `OLLAMA_CLOUD_HOST must use https:// (or http:// for a loopback host); got "${url.protocol}".`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      "OLLAMA_CLOUD_HOST must be a plain base URL without credentials, query or fragment.",
    );
  }
  if (url.protocol === "http:" && hasKey && !isLoopbackHostname(url.hostname)) {
    throw new ConfigError(
      `Refusing to send OLLAMA_API_KEY over plain http:// to ${url.host}. Use https://, or a loopback host (127.0.0.1, ::1, localhost) for a local proxy.`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}
