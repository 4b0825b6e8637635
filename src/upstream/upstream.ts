import { type Clock, systemClock } from "../clock.js";
import { settleWithConcurrency } from "../concurrency.js";
import type { ServerConfig } from "../config.js";
import { type ModelRef, parseModelRef } from "../model-name.js";
import { redactor } from "../redact.js";
import {
  type CallOptions,
  type ChatProgress,
  type ChatReply,
  type ChatRequest,
  createEndpoint,
  type TaggedModel,
  type WebPage,
  type WebSearchHit,
} from "./endpoint.js";
import {
  CLOUD,
  capitalize,
  ModelNotFoundError,
  NoWayToCloudError,
  type Service,
  UpstreamError,
  UpstreamHttpError,
  UpstreamNetworkError,
} from "./errors.js";
import type { Fetch, SeamDeps } from "./fetch-seam.js";
import { Limiter } from "./limiter.js";
import { DEFAULT_RETRY_POLICY, RetryBudget, type RetryPolicy } from "./retry.js";
import { isAbortError } from "./signals.js";
import { TtlCache } from "./ttl-cache.js";

export type {
  CallOptions,
  ChatMessage,
  ChatProgress,
  ChatReply,
  ThinkLevel,
  ToolCall,
  ToolSpec,
  WebPage,
  WebSearchHit,
} from "./endpoint.js";

/** Where a call ran, for the caller's structured output. */
export interface Route {
  ran_on: "cloud" | "local";
  /** For the cloud: straight to ollama.com, or through the local Ollama. */
  via?: "direct" | "local";
  /** When a call the local Ollama could not serve ran on the cloud instead. */
  fallback?: { from: string; reason: string };
}

export interface ListedModel extends TaggedModel {
  where: "cloud" | "local";
}

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
  listModels(options?: CallOptions): Promise<ListedModel[]>;
  /**
   * What the model a chat would run on can do ("vision", "tools", ...), from /api/show where
   * the server offers it; undefined when it does not say.
   */
  capabilities(model: ModelRef | undefined, options?: CallOptions): Promise<string[] | undefined>;
  /** Up to a few cloud models that say they can do `capability`, for messages. */
  modelsWith(capability: string, options?: CallOptions): Promise<string[]>;
  /** Throws a RoutingError, before anything is sent, for a model this mode can never run. */
  checkModel(model: ModelRef | undefined): void;
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

const CLOUD_LIST_TTL_MS = 60_000;
const LOCAL_LIST_TTL_MS = 10_000;
const SEARCH_CACHE_ENTRIES = 256;
const SUGGESTED_MODELS = 8;
const SHOW_TTL_MS = 10 * 60_000;
/** How many cloud models are asked what they can do, to name the ones that can. */
const MODELS_PROBED = 30;
const EXPERIMENTAL_WEB_PATHS = {
  "/api/web_search": "/api/experimental/web_search",
  "/api/web_fetch": "/api/experimental/web_fetch",
};

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
    limiter: new Limiter(config.upstreamConcurrency, config.upstreamConcurrencyTotal),
    budget: new RetryBudget(config.retryBudgetPercent / 100, clock),
    redact: redactor([config.apiKey, ...(deps.secrets ?? [])]),
  };
  const localHost = new URL(config.ollamaHost).host;
  const localService: Service = {
    name: `your local Ollama at ${localHost}`,
    setting: "OLLAMA_HOST",
  };

  // The key goes to ollama.com only; the local Ollama signs cloud calls with its own.
  const direct = createEndpoint(
    { baseUrl: config.cloudHost, apiKey: config.apiKey, requiresKey: true, service: CLOUD },
    seamDeps,
  );
  const local = createEndpoint(
    {
      baseUrl: config.ollamaHost,
      apiKey: undefined,
      requiresKey: false,
      service: localService,
      paths: EXPERIMENTAL_WEB_PATHS,
    },
    seamDeps,
  );
  const cloudViaLocal = config.cloudVia === "local";
  const cloudRoute: Route = { ran_on: "cloud", via: config.cloudVia };

  const cloudList = new TtlCache<string, ListedModel[]>(CLOUD_LIST_TTL_MS, 256, now);
  const localList = new TtlCache<string, TaggedModel[]>(LOCAL_LIST_TTL_MS, 1, now);
  const searches = new TtlCache<string, WebSearchHit[]>(
    config.searchCacheTtlMs,
    SEARCH_CACHE_ENTRIES,
    now,
  );

  const shown = new TtlCache<string, string[] | undefined>(SHOW_TTL_MS, 512, now);
  /** A model's capabilities, or undefined when the server does not say (or cannot be asked). */
  const showCapabilities = (endpoint: typeof direct, name: string, options: CallOptions) =>
    shown
      .getOrLoad(`${options.lane ?? ""}\u0000${endpoint.service.name}\u0000${name}`, async () => {
        try {
          return (await endpoint.show(name, options)).capabilities;
        } catch (error) {
          if (isAbortError(error)) throw error;
          return undefined;
        }
      })
      .catch((error: unknown) => {
        if (isAbortError(error) && !options.signal?.aborted) return undefined;
        throw error;
      });

  const localTags = (options: CallOptions) =>
    localList.getOrLoad("tags", () => local.tags(options));

  /** Cloud models: the cloud's catalogue, or the cloud models the local Ollama can reach. */
  function cloudModels(options: CallOptions): Promise<ListedModel[]> {
    return cloudList.getOrLoad(options.lane ?? "", async () => {
      if (!cloudViaLocal) {
        return (await direct.tags(options)).map((m) => ({ ...m, where: "cloud" as const }));
      }
      const tags = await viaLocal(() => localTags(options));
      return tags
        .filter((m) => m.remote_host)
        .map((m) => ({ ...m, name: parseModelRef(m.name).base, where: "cloud" as const }));
    });
  }

  /** A cloud-bound call through the local Ollama: if it is not there, no way to the cloud is left. */
  async function viaLocal<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof UpstreamNetworkError && !config.apiKey) {
        throw new NoWayToCloudError(config.ollamaHost, { cause: error, service: localService });
      }
      throw error;
    }
  }

  /** The name the cloud's way in knows a model by. */
  function cloudName(model: ModelRef): string {
    // ollama.com wants the bare name; the local Ollama routes by the suffix, so it keeps one.
    if (!cloudViaLocal) return model.base;
    return model.placement === "cloud" ? model.input : `${model.base}:cloud`;
  }

  /** Local mode: the local Ollama gets every model, and a cloud suffix is its to route. */
  function localModeName(model: ModelRef): string {
    return model.placement === "local" ? model.base : model.input;
  }

  async function chatOnCloud(
    model: ModelRef,
    request: RoutedChatRequest,
    options: ChatCallOptions,
  ): Promise<ChatReply> {
    const name = cloudName(model);
    const send = () => (cloudViaLocal ? local : direct).chat({ ...request, model: name }, options);
    return namingAlternatives(cloudViaLocal ? () => viaLocal(send) : send, model.base, CLOUD, () =>
      cloudModels(options),
    );
  }

  function chatOnLocal(
    name: string,
    request: RoutedChatRequest,
    options: ChatCallOptions,
  ): Promise<ChatReply> {
    return namingAlternatives(
      () => local.chat({ ...request, model: name }, options),
      name,
      localService,
      async () => (await localTags(options)).filter((m) => !m.remote_host),
    );
  }

  /** A 404 for the model becomes an error that names models the same server does have. */
  async function namingAlternatives<T>(
    call: () => Promise<T>,
    model: string,
    service: Service,
    available: () => Promise<{ name: string }[]>,
  ): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!isNotFound(error)) throw error;
      let names: string[] = [];
      try {
        names = (await available()).map((m) => m.name).slice(0, SUGGESTED_MODELS);
      } catch {
        // The suggestion is a courtesy; the 404 is what the user needs to hear.
      }
      throw new ModelNotFoundError(model, names, { cause: error, service });
    }
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
      localHasIt = hasModel(await localTags(options), model.base);
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
      const cloud = await cloudModels(options).catch(() => [] as ListedModel[]);
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

  /** Where a chat for this model would go, for asking about the model (hybrid: as chat decides). */
  async function placeOf(model: ModelRef, options: CallOptions) {
    const cloud = () => ({ endpoint: cloudViaLocal ? local : direct, name: cloudName(model) });
    if (config.mode === "cloud" || model.placement === "cloud") return cloud();
    if (config.mode === "local" || model.placement === "local") {
      return { endpoint: local, name: localModeName(model) };
    }
    const tags = await localTags(options).catch(() => []);
    return hasModel(tags, model.base) ? { endpoint: local, name: model.base } : cloud();
  }

  return {
    checkModel,

    async capabilities(requested, options = {}) {
      const model = checkModel(requested);
      const { endpoint, name } = await placeOf(model, options);
      return showCapabilities(endpoint, name, options);
    },

    async modelsWith(capability, options = {}) {
      const models = (await cloudModels(options).catch(() => [] as ListedModel[])).slice(
        0,
        MODELS_PROBED,
      );
      const found: string[] = [];
      await settleWithConcurrency(models, 4, async (m) => {
        const name = cloudViaLocal ? `${m.name}:cloud` : m.name;
        const capabilities = await showCapabilities(cloudViaLocal ? local : direct, name, options);
        if (capabilities?.includes(capability)) found.push(m.name);
      });
      return models
        .map((m) => m.name)
        .filter((name) => found.includes(name))
        .slice(0, SUGGESTED_MODELS);
    },

    async chat(request, options = {}) {
      const model = checkModel(request.model);
      if (config.mode === "cloud") {
        return { ...(await chatOnCloud(model, request, options)), route: cloudRoute };
      }
      if (config.mode === "local") {
        // A cloud suffix means the model ran in the cloud, through the local Ollama.
        const name = localModeName(model);
        const route: Route =
          model.placement === "cloud" ? { ran_on: "cloud", via: "local" } : { ran_on: "local" };
        return { ...(await chatOnLocal(name, request, options)), route };
      }
      return chatHybrid(model, request, options);
    },

    webSearch(query, maxResults, options = {}) {
      const load = () =>
        cloudViaLocal
          ? viaLocal(() => local.webSearch(query, maxResults, options))
          : direct.webSearch(query, maxResults, options);
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
      const page = cloudViaLocal
        ? await viaLocal(() => local.webFetch(url, options))
        : await direct.webFetch(url, options);
      return { page, route: cloudRoute };
    },

    async listModels(options = {}) {
      if (config.mode === "cloud") return cloudModels(options);
      const tags = await localTags(options);
      const locals = tags
        .filter((m) => !m.remote_host)
        .map((m) => ({ ...m, where: "local" as const }));
      if (config.mode === "local") {
        const remotes = tags
          .filter((m) => m.remote_host)
          .map((m) => ({ ...m, where: "cloud" as const }));
        return [...locals, ...remotes];
      }
      return [...locals, ...(await cloudModels(options))];
    },
  };
}

/** The model a call without one uses. */
function defaultModel(config: ServerConfig): ModelRef {
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

/** Ollama names without a tag mean ":latest". */
export function hasModel(models: readonly { name: string }[], name: string): boolean {
  const wanted = withTag(name);
  return models.some((m) => withTag(m.name) === wanted);
}

function withTag(name: string): string {
  const lower = name.toLowerCase();
  return lower.slice(lower.lastIndexOf("/") + 1).includes(":") ? lower : `${lower}:latest`;
}

function isNotFound(error: unknown): boolean {
  return error instanceof UpstreamHttpError && error.status === 404;
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
