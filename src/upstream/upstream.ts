import { type Clock, systemClock } from "../clock.js";
import type { ServerConfig } from "../config.js";
import { type ModelRef, parseModelRef } from "../model-name.js";
import { redactor } from "../redact.js";
import { createAccount } from "./account.js";
import { createCatalog, hasModel, type ListedModel } from "./catalog.js";
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
import {
  CLOUD,
  capitalize,
  ModelNotFoundError,
  UpstreamError,
  UpstreamHttpError,
  UpstreamNetworkError,
} from "./errors.js";
import { createExplainer } from "./explain.js";
import type { Fetch, SeamDeps } from "./fetch-seam.js";
import { Limiter } from "./limiter.js";
import { DEFAULT_RETRY_POLICY, RetryBudget, type RetryPolicy } from "./retry.js";
import { isAbortError } from "./signals.js";
import { TtlCache } from "./ttl-cache.js";
import { createWays, type Route } from "./ways.js";

export type { ListedModel } from "./catalog.js";
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

/** A model name is refused by the routing rules before anything is sent. */
export class RoutingError extends UpstreamError {
  override name = "RoutingError";
}

const SEARCH_CACHE_ENTRIES = 256;

export function createUpstream(deps: UpstreamDeps): Upstream {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const now = () => clock.now();
  const policy: RetryPolicy = {
    ...DEFAULT_RETRY_POLICY,
    timeoutMs: config.timeoutMs,
    retries: config.retries,
    ...deps.retryPolicy,
  };
  const seamDeps: SeamDeps = {
    policy,
    clock,
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    limiter: new Limiter(now, config.upstreamConcurrency, config.upstreamConcurrencyTotal),
    budget: new RetryBudget(config.retryBudgetPercent / 100, clock),
    redact: redactor([config.apiKey, ...(deps.secrets ?? [])]),
  };
  const ways = createWays(config, seamDeps);
  const { local, localService, cloudRoute } = ways;
  const catalog = createCatalog(config, ways, now);
  const account = createAccount(config, ways, now);
  const explain = createExplainer(catalog, account);
  const searches = new TtlCache<string, WebSearchHit[]>(
    config.searchCacheTtlMs,
    SEARCH_CACHE_ENTRIES,
    now,
  );

  async function chatOnCloud(
    model: ModelRef,
    request: RoutedChatRequest,
    options: ChatCallOptions,
  ): Promise<ChatReply> {
    const name = ways.cloudName(model);
    return explain.chat(
      () => ways.toCloud(() => ways.cloud.chat({ ...request, model: name }, options)),
      { model: model.base, service: CLOUD, available: () => catalog.cloudModels(options) },
      options,
    );
  }

  function chatOnLocal(
    name: string,
    request: RoutedChatRequest,
    options: ChatCallOptions,
  ): Promise<ChatReply> {
    return explain.chat(
      () => local.chat({ ...request, model: name }, options),
      {
        model: name,
        service: localService,
        available: async () => (await catalog.localTags(options)).filter((m) => !m.remote_host),
      },
      options,
    );
  }

  /** Hybrid: local when the local Ollama has the model, the cloud when only it does, else fallback. */
  async function chatHybrid(
    model: ModelRef,
    request: RoutedChatRequest,
    options: ChatCallOptions,
  ): Promise<ChatReply & { route: Route }> {
    if (model.placement === "cloud") {
      return { ...(await chatOnCloud(model, request, options)), route: cloudRoute };
    }
    if (model.placement === "local") {
      return { ...(await chatOnLocal(model.base, request, options)), route: { ran_on: "local" } };
    }
    let reason: string;
    let localHasIt = false;
    try {
      localHasIt = hasModel(await catalog.localTags(options), model.base);
      reason = `${localService.name} does not have ${model.base}`;
    } catch (error) {
      if (isAbortError(error)) throw error;
      reason = `${localService.name} could not be reached (${describe(error)})`;
    }
    if (localHasIt) {
      let received = 0;
      try {
        const reply = await chatOnLocal(model.base, request, {
          ...options,
          onProgress: (progress) => {
            received = progress.receivedChars;
            options.onProgress?.(progress);
          },
        });
        return { ...reply, route: { ran_on: "local" } };
      } catch (error) {
        // Only a call that never started answering may move; a started answer is not redone.
        if (received > 0 || !canFallBack(error)) throw error;
        reason = `${localService.name} failed: ${describe(error)}`;
      }
    } else {
      const cloud = await catalog.cloudModels(options).catch(() => [] as ListedModel[]);
      if (hasModel(cloud, model.base)) {
        return { ...(await chatOnCloud(model, request, options)), route: cloudRoute };
      }
    }
    if (!config.cloudFallback) {
      throw new RoutingError(
        `${capitalize(reason)}, and fallback to the cloud is off (OLLAMA_CLOUD_FALLBACK=false), so the call stays on this machine. Pull the model with \`ollama pull ${model.base}\` or pick another.`,
      );
    }
    const fallbackModel = parseModelRef(config.defaultModel);
    const reply = await chatOnCloud(fallbackModel, request, options);
    return { ...reply, route: { ...cloudRoute, fallback: { from: model.input, reason } } };
  }

  function checkModel(requested: ModelRef | undefined): ModelRef {
    const model = requested ?? defaultModel(config);
    if (config.mode === "cloud" && model.placement === "local") {
      throw new RoutingError(
        `Model "${model.input}" names a model on a local Ollama (":local"), but this server runs in cloud mode. Drop the suffix, or set OLLAMA_MODE=hybrid (or local) to use your Ollama.`,
      );
    }
    return model;
  }

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

    async chat(request, options = {}) {
      const model = checkModel(request.model);
      if (config.mode === "cloud") {
        return { ...(await chatOnCloud(model, request, options)), route: cloudRoute };
      }
      if (config.mode === "local") {
        // A cloud suffix means the model ran in the cloud, through the local Ollama.
        const name = ways.localModeName(model);
        const route: Route =
          model.placement === "cloud" ? { ran_on: "cloud", via: "local" } : { ran_on: "local" };
        return { ...(await chatOnLocal(name, request, options)), route };
      }
      return chatHybrid(model, request, options);
    },

    webSearch(query, maxResults, options = {}) {
      const load = () =>
        explain.spending(
          () => ways.toCloud(() => ways.cloud.webSearch(query, maxResults, options)),
          options,
        );
      // Callers with their own keys share nothing: their searches are cached apart.
      const key = `${options.lane ?? ""}\u0000${maxResults}\u0000${query}`;
      const shared = searches.getOrLoad(key, load);
      // A shared in-flight search that another caller cancelled must not fail this one.
      const results = shared.catch((error: unknown) => {
        if (isAbortError(error) && !options.signal?.aborted) return searches.getOrLoad(key, load);
        throw error;
      });
      return results.then((hits) => ({ results: hits, route: cloudRoute }));
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

/** The model a call without one uses. */
export function defaultModel(config: ServerConfig): ModelRef {
  if (config.mode === "local") {
    if (!config.localModel) {
      throw new RoutingError(
        "No model given, and OLLAMA_LOCAL_MODEL is not set. Pass model (list_models shows what your Ollama has), or set OLLAMA_LOCAL_MODEL.",
      );
    }
    return parseModelRef(config.localModel);
  }
  if (config.mode === "hybrid" && config.localModel) return parseModelRef(config.localModel);
  return parseModelRef(config.defaultModel);
}

/** Failures of the local server that the cloud can make up for: unreachable, 5xx, no such model. */
function canFallBack(error: unknown): boolean {
  if (error instanceof ModelNotFoundError || error instanceof UpstreamNetworkError) return true;
  return error instanceof UpstreamHttpError && (error.status ?? 0) >= 500;
}

function describe(error: unknown): string {
  if (error instanceof UpstreamNetworkError) return error.detail;
  if (error instanceof UpstreamError && error.status) return `HTTP ${error.status}`;
  return error instanceof Error ? error.name : "error";
}
