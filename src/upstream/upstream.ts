import { type Clock, systemClock } from "../clock.js";
import type { ServerConfig } from "../config.js";
import type { ModelRef } from "../model-name.js";
import { redactor } from "../redact.js";
import { createAccount } from "./account.js";
import { createCatalog, hasModel, type ListedModel } from "./catalog.js";
import { modelToRun, routeChat } from "./chat-routing.js";
import type {
  AccountBalance,
  CallOptions,
  ChatProgress,
  ChatReply,
  ChatRequest,
  CloudUsage,
  UsageRange,
  UsageScope,
  WebPage,
  WebSearchHit,
} from "./endpoint.js";
import { CLOUD } from "./errors.js";
import { createExplainer } from "./explain.js";
import type { Fetch, SeamDeps } from "./fetch-seam.js";
import { Limiter } from "./limiter.js";
import { DEFAULT_RETRY_POLICY, RetryBudget, type RetryPolicy } from "./retry.js";
import { isAbortError } from "./signals.js";
import { TtlCache } from "./ttl-cache.js";
import { createWays, type Route } from "./ways.js";

export type { ListedModel } from "./catalog.js";
export { defaultModel, RoutingError } from "./chat-routing.js";
export type {
  AccountBalance,
  CallOptions,
  ChatMessage,
  ChatProgress,
  ChatReply,
  CloudUsage,
  ThinkLevel,
  ToolCall,
  ToolSpec,
  UsageRange,
  UsageScope,
  WebPage,
  WebSearchHit,
} from "./endpoint.js";
export type { Route } from "./ways.js";

export type ChatCallOptions = CallOptions & { onProgress?: (progress: ChatProgress) => void };

export interface RoutedChatRequest extends Omit<ChatRequest, "model"> {
  /** The caller's model, parsed; undefined means the configured default. */
  model: ModelRef | undefined;
}

/** What tools use to reach Ollama. Tools never build URLs, read the key, or pick a server. */
export interface Upstream {
  chat(
    request: RoutedChatRequest,
    options?: ChatCallOptions,
  ): Promise<ChatReply & { route: Route }>;
  webSearch(
    query: string,
    maxResults: number,
    options?: CallOptions,
  ): Promise<{ results: WebSearchHit[]; route: Route }>;
  webFetch(url: string, options?: CallOptions): Promise<{ page: WebPage; route: Route }>;
  listModels(options?: CallOptions, ask?: { capabilities?: boolean }): Promise<ListedModel[]>;
  /**
   * What the model a chat would run on can do ("vision", "tools", ...), from /api/show where
   * the server offers it; undefined when it does not say.
   */
  capabilities(model: ModelRef | undefined, options?: CallOptions): Promise<string[] | undefined>;
  /** Up to a few cloud models that say they can do `capability`, for messages. */
  modelsWith(capability: string, options?: CallOptions): Promise<string[]>;
  /** Throws a RoutingError, before anything is sent, for a model this mode can never run. */
  checkModel(model: ModelRef | undefined): void;
  /** The account's credits left, and its usage over a range (ollama.com only, with a key). */
  cloudUsage(
    range: UsageRange,
    scope: UsageScope,
    options?: CallOptions,
  ): Promise<{ balance: AccountBalance; usage: CloudUsage }>;
  /** Whether ollama.com accepts a user's key, with one request (see Account.checkKey). */
  checkKey(apiKey: string, options?: CallOptions): Promise<void>;
  /**
   * In cloud mode, throws the error a chat would (the model is not there, with those that are)
   * when the cloud's list says it does not have the model; when the list cannot be had, the
   * chat will say. For tools that would spend other calls before their first chat.
   */
  ensureModel(model: ModelRef | undefined, options?: CallOptions): Promise<void>;
}

export interface UpstreamDeps {
  config: ServerConfig;
  /** Secrets to redact from upstream text besides the key (the HTTP token). */
  secrets?: readonly (string | undefined)[];
  /** How HTTP requests are sent: the platform fetch unless given. */
  fetch?: Fetch;
  clock?: Clock;
  /** Overrides for the parts of the retry policy that are not configuration (tests use these). */
  retryPolicy?: Partial<RetryPolicy>;
}

const SEARCH_CACHE_ENTRIES = 256;

export function createUpstream(deps: UpstreamDeps): Upstream {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const now = () => clock.now();
  const ways = createWays(config, seamDepsOf(deps, clock));
  const { cloudRoute } = ways;
  const catalog = createCatalog(config, ways, now);
  const account = createAccount(config, ways, now);
  const explain = createExplainer(catalog, account);
  const searches = new TtlCache<string, WebSearchHit[]>(
    config.searchCacheTtlMs,
    SEARCH_CACHE_ENTRIES,
    now,
  );

  const routing = { config, ways, catalog, explain };
  const checkModel = (requested: ModelRef | undefined) => modelToRun(config, requested);

  return {
    checkModel,

    async ensureModel(requested, options = {}) {
      const model = checkModel(requested);
      if (config.mode !== "cloud") return;
      const models = await catalog.cloudModels(options).catch((error: unknown) => {
        if (isAbortError(error)) throw error;
        return undefined;
      });
      if (!models || hasModel(models, model.base)) return;
      throw explain.notAvailable(model.base, models, CLOUD);
    },

    cloudUsage(range, scope, options = {}) {
      return account.usage(range, scope, options);
    },

    checkKey(apiKey, options = {}) {
      return account.checkKey(apiKey, options);
    },

    capabilities(requested, options = {}) {
      return catalog.capabilities(checkModel(requested), options);
    },

    modelsWith(capability, options = {}) {
      return catalog.modelsWith(capability, options);
    },

    chat(request, options = {}) {
      return routeChat(routing, request, options);
    },

    webSearch(query, maxResults, options = {}) {
      const load = () =>
        explain.spending(
          () => ways.toCloud(() => ways.cloud.webSearch(query, maxResults, options)),
          options,
        );
      // Callers with their own keys share nothing: their searches are cached apart.
      const key = `${options.lane ?? ""}\u0000${maxResults}\u0000${query}`;
      return cached(searches, key, load, options.signal).then((hits) => ({
        results: hits,
        route: cloudRoute,
      }));
    },

    async webFetch(url, options = {}) {
      const page = await explain.spending(
        () => ways.toCloud(() => ways.cloud.webFetch(url, options)),
        options,
      );
      return { page, route: cloudRoute };
    },

    listModels(options = {}, ask = {}) {
      return catalog.listModels(options, ask);
    },
  };
}

/** What every request to Ollama shares: the policy, the limiter, the retry budget, redaction. */
function seamDepsOf(deps: UpstreamDeps, clock: Clock): SeamDeps {
  const { config } = deps;
  return {
    policy: {
      ...DEFAULT_RETRY_POLICY,
      timeoutMs: config.timeoutMs,
      retries: config.retries,
      ...deps.retryPolicy,
    },
    clock,
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    limiter: new Limiter(
      () => clock.now(),
      config.upstreamConcurrency,
      config.upstreamConcurrencyTotal,
    ),
    budget: new RetryBudget(config.retryBudgetPercent / 100, clock),
    redact: redactor([config.apiKey, ...(deps.secrets ?? [])]),
  };
}

/** A cached search; a shared one in flight that another caller cancelled must not fail this one. */
function cached<T>(
  cache: TtlCache<string, T>,
  key: string,
  load: () => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  return cache.getOrLoad(key, load).catch((error: unknown) => {
    if (isAbortError(error) && !signal?.aborted) return cache.getOrLoad(key, load);
    throw error;
  });
}
