import type { ChatResponse, Ollama, WebSearchRequest } from "ollama";
import { z } from "zod";
import type { ServerConfig } from "../config.js";
import {
  isAbortError,
  MalformedResponseError,
  ModelNotFoundError,
  StreamError,
  UpstreamError,
  UpstreamHttpError,
} from "./errors.js";
import { TtlCache } from "./ttl-cache.js";
import {
  type CallHooks,
  createUpstreamFetch,
  DEFAULT_RETRY_POLICY,
  type Fetch,
  type RetryPolicy,
  type UpstreamTarget,
} from "./upstream-fetch.js";

export type ThinkLevel = boolean | "low" | "medium" | "high";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  tool_name?: string | undefined;
}

export interface ChatRequest {
  /** The name as ollama.com expects it (no placement suffix). */
  model: string;
  messages: ChatMessage[];
  think?: ThinkLevel | undefined;
  format?: "json" | Record<string, unknown> | undefined;
  options?: Record<string, unknown> | undefined;
}

export interface ChatUsage {
  prompt_tokens: number;
  output_tokens: number;
  total_ms: number;
  load_ms: number;
  prompt_ms: number;
  generation_ms: number;
}

export interface ChatReply {
  model: string;
  content: string;
  thinking: string;
  done_reason: string;
  usage: ChatUsage;
}

export interface ChatProgress {
  /** Characters of answer and thinking received so far. */
  receivedChars: number;
}

export type CallOptions = CallHooks;

export interface WebSearchHit {
  title: string;
  url: string;
  content: string;
}

export interface WebPage {
  title: string;
  content: string;
  links: string[];
}

export interface CloudModel {
  name: string;
  modified_at?: string | undefined;
  size?: number | undefined;
  details?: Record<string, unknown> | undefined;
}

/** What tools use to reach Ollama's cloud. Tools never build URLs or see the key. */
export interface CloudClient {
  chat(
    request: ChatRequest,
    options?: CallOptions & { onProgress?: (progress: ChatProgress) => void },
  ): Promise<ChatReply>;
  webSearch(query: string, maxResults: number, options?: CallOptions): Promise<WebSearchHit[]>;
  webFetch(url: string, options?: CallOptions): Promise<WebPage>;
  listModels(options?: CallOptions): Promise<CloudModel[]>;
}

export interface CloudClientDeps {
  config: Pick<ServerConfig, "apiKey" | "cloudHost" | "timeoutMs" | "retries" | "searchCacheTtlMs">;
  fetch?: Fetch;
  now?: () => number;
  /** Overrides for the parts of the retry policy that are not configuration (tests use these). */
  retryPolicy?: Partial<RetryPolicy>;
}

let ollamaModule: Promise<typeof import("ollama")> | undefined;
const loadOllama = () => {
  ollamaModule ??= import("ollama");
  return ollamaModule;
};

const MODEL_LIST_TTL_MS = 60_000;
const SEARCH_CACHE_ENTRIES = 256;
const SUGGESTED_MODELS = 8;

const searchResponseSchema = z.object({
  results: z.array(
    z.object({
      title: z.string().catch(""),
      url: z.string(),
      content: z.string().catch(""),
    }),
  ),
});

const fetchResponseSchema = z.object({
  title: z.string().catch(""),
  content: z.string().catch(""),
  links: z.array(z.string()).catch([]),
});

const tagsResponseSchema = z.object({
  models: z.array(
    z
      .object({
        name: z.string().optional(),
        model: z.string().optional(),
        modified_at: z.string().optional(),
        size: z.number().optional(),
        details: z.record(z.string(), z.unknown()).optional(),
      })
      .refine((m) => m.name ?? m.model, "a model entry needs a name"),
  ),
});

export function createCloudClient(deps: CloudClientDeps): CloudClient {
  const baseFetch = deps.fetch ?? globalThis.fetch;
  const now = deps.now ?? Date.now;
  const target: UpstreamTarget = {
    baseUrl: deps.config.cloudHost,
    apiKey: deps.config.apiKey,
    requiresKey: true,
  };
  const policy: RetryPolicy = {
    ...DEFAULT_RETRY_POLICY,
    timeoutMs: deps.config.timeoutMs,
    retries: deps.config.retries,
    ...deps.retryPolicy,
  };
  const modelList = new TtlCache<string, CloudModel[]>(MODEL_LIST_TTL_MS, 1, now);
  const searches = new TtlCache<string, WebSearchHit[]>(
    deps.config.searchCacheTtlMs,
    SEARCH_CACHE_ENTRIES,
    now,
  );

  // One ollama-js instance per call: its fetch carries that call's signal and hooks. The library
  // is loaded on the first call, so listing tools never pays for it.
  const ollamaFor = async (hooks: CallHooks): Promise<Ollama> => {
    const { Ollama } = await loadOllama();
    return new Ollama({
      host: target.baseUrl,
      fetch: createUpstreamFetch(target, policy, baseFetch, hooks),
    });
  };

  function listModels(options: CallOptions = {}): Promise<CloudModel[]> {
    return modelList.getOrLoad("models", async () => {
      const raw = await guard(async () => (await ollamaFor(options)).list(), "model list");
      return parse(tagsResponseSchema, raw, "model list").models.map((m) => ({
        name: (m.name ?? m.model) as string,
        modified_at: m.modified_at,
        size: m.size,
        details: m.details,
      }));
    });
  }

  async function modelNotFound(model: string, cause: unknown): Promise<ModelNotFoundError> {
    let names: string[] = [];
    try {
      names = (await listModels()).map((m) => m.name).slice(0, SUGGESTED_MODELS);
    } catch {
      // The suggestion is a courtesy; the 404 is what the user needs to hear.
    }
    return new ModelNotFoundError(model, names, { cause });
  }

  return {
    async chat(request, options = {}) {
      const ollama = await ollamaFor(options);
      let final: ChatResponse | undefined;
      let content = "";
      let thinking = "";
      try {
        const stream = await ollama.chat({
          model: request.model,
          messages: request.messages,
          stream: true,
          ...(request.think !== undefined && { think: request.think }),
          ...(request.format !== undefined && { format: request.format }),
          ...(request.options !== undefined && { options: request.options }),
        });
        for await (const chunk of stream) {
          content += chunk.message?.content ?? "";
          thinking += chunk.message?.thinking ?? "";
          options.onProgress?.({ receivedChars: content.length + thinking.length });
          if (chunk.done) final = chunk;
        }
      } catch (error) {
        if (error instanceof UpstreamHttpError && error.status === 404) {
          throw await modelNotFound(request.model, error);
        }
        throw classifyStreamFailure(error);
      }
      if (!final) throw new StreamError("the stream ended before the model finished");
      return {
        model: final.model || request.model,
        content,
        thinking,
        done_reason: final.done_reason || "stop",
        usage: {
          prompt_tokens: final.prompt_eval_count ?? 0,
          output_tokens: final.eval_count ?? 0,
          total_ms: nanosToMs(final.total_duration),
          load_ms: nanosToMs(final.load_duration),
          prompt_ms: nanosToMs(final.prompt_eval_duration),
          generation_ms: nanosToMs(final.eval_duration),
        },
      };
    },

    webSearch(query, maxResults, options = {}) {
      return searches.getOrLoad(`${maxResults}\u0000${query}`, async () => {
        // ollama-js types the field as maxResults, but the service reads max_results.
        const body = { query, max_results: maxResults } as unknown as WebSearchRequest;
        const raw = await guard(
          async () => (await ollamaFor(options)).webSearch(body),
          "web search",
        );
        return parse(searchResponseSchema, raw, "web search").results;
      });
    },

    async webFetch(url, options = {}) {
      const raw = await guard(
        async () => (await ollamaFor(options)).webFetch({ url }),
        "web fetch",
      );
      return parse(fetchResponseSchema, raw, "web fetch");
    },

    listModels,
  };
}

/** Runs a non-streaming call; a body that is not JSON becomes a MalformedResponseError. */
async function guard<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UpstreamError || isAbortError(error)) throw error;
    if (error instanceof SyntaxError) {
      throw new MalformedResponseError(`the ${what} answer was not JSON`, { cause: error });
    }
    throw new MalformedResponseError(`the ${what} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function parse<T>(schema: z.ZodType<T>, raw: unknown, what: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new MalformedResponseError(`the ${what} answer did not have the expected fields`, {
      cause: result.error,
    });
  }
  return result.data;
}

const NO_DONE = "Did not receive done or success response in stream.";

/** ollama-js throws plain Errors for `{"error": ...}` lines and for streams that stop early. */
function classifyStreamFailure(error: unknown): unknown {
  if (error instanceof UpstreamError || isAbortError(error)) return error;
  if (error instanceof Error) {
    if (error.message === NO_DONE) {
      return new StreamError("the stream ended before the model finished", { cause: error });
    }
    return new StreamError(`the service reported "${error.message}"`, { cause: error });
  }
  return new StreamError(String(error));
}

function nanosToMs(nanos: number | undefined): number {
  return nanos ? Math.round(nanos / 10_000) / 100 : 0;
}
