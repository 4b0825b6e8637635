import { type ChatResponse, Ollama, type WebSearchRequest } from "ollama/browser";
import * as z from "zod";
import {
  AccountRateLimitError,
  MalformedResponseError,
  RateLimitedError,
  type Service,
  StreamError,
  UpstreamError,
  UsageLimitError,
} from "./errors.js";
import { type CallHooks, createSeam, type SeamDeps, type UpstreamTarget } from "./fetch-seam.js";
import { isAbortError } from "./signals.js";

export type ThinkLevel = boolean | "low" | "medium" | "high" | "max";

/** A tool call as Ollama returns it: `arguments` is an object, not a JSON string. */
export interface ToolCall {
  function: { name: string; arguments: Record<string, unknown> };
}

/** A tool offered to the model, in Ollama's /api/chat form. */
export interface ToolSpec {
  type: "function";
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  tool_name?: string | undefined;
  tool_calls?: ToolCall[] | undefined;
  /** Image bytes for a vision model; ollama-js sends them base64-encoded. */
  images?: Uint8Array[] | undefined;
}

export interface ChatRequest {
  /** The name as the target server expects it. */
  model: string;
  messages: ChatMessage[];
  think?: ThinkLevel | undefined;
  format?: "json" | Record<string, unknown> | undefined;
  options?: Record<string, unknown> | undefined;
  tools?: ToolSpec[] | undefined;
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
  /** Tool calls the model made, from whichever chunks of the stream carried them. */
  tool_calls: ToolCall[];
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

export interface TaggedModel {
  name: string;
  modified_at?: string | undefined;
  size?: number | undefined;
  details?: Record<string, unknown> | undefined;
  /** Set by a local Ollama for cloud models it reaches on the user's behalf. */
  remote_host?: string | undefined;
  remote_model?: string | undefined;
}

/** One server that speaks the Ollama API: ollama.com, or a local Ollama. */
export interface Endpoint {
  readonly service: Service;
  chat(
    request: ChatRequest,
    options?: CallOptions & { onProgress?: (progress: ChatProgress) => void },
  ): Promise<ChatReply>;
  webSearch(query: string, maxResults: number, options?: CallOptions): Promise<WebSearchHit[]>;
  webFetch(url: string, options?: CallOptions): Promise<WebPage>;
  tags(options?: CallOptions): Promise<TaggedModel[]>;
  /** What a model can do ("vision", "tools", ...), when the server says. */
  show(model: string, options?: CallOptions): Promise<{ capabilities?: string[] | undefined }>;
  /** The account's credits left (GET /api/balance). */
  balance(options?: CallOptions): Promise<AccountBalance>;
  /** The account's (or its team's) usage over a range (GET /api/usage). */
  usage(range: UsageRange, scope: UsageScope, options?: CallOptions): Promise<CloudUsage>;
}

const resetWindowSchema = z.object({ remaining_percent: z.number(), resets_at: z.string() });

/** docs/api/balance.mdx: monthly credits, or a legacy plan's session and weekly limits. */
const balanceSchema = z.object({
  included: z.union([
    z.object({
      balance_usd: z.number(),
      allowance_usd: z.number(),
      period: z.object({ from: z.string(), until: z.string() }),
    }),
    z.object({ session: resetWindowSchema, weekly: resetWindowSchema }),
  ]),
  purchased: z.object({ balance_usd: z.number() }),
});
export type AccountBalance = z.infer<typeof balanceSchema>;

/** Counts of one range or bucket; a legacy plan's have request counts only. */
const amountsSchema = z.object({
  request_count: z.number(),
  usage_usd: z.number().optional().describe("Cost in USD; absent for a legacy plan."),
  input_tokens: z.number().optional(),
  cached_input_tokens: z.number().optional(),
  output_tokens: z.number().optional(),
});

/** docs/api/cloud-usage.mdx; cloud_usage returns it as it comes. */
export const usageSchema = z.object({
  range: z.string(),
  scope: z.string(),
  granularity: z.enum(["hour", "day"]),
  from: z.string(),
  until: z.string(),
  totals: amountsSchema,
  buckets: z.array(
    amountsSchema.extend({
      from: z.string(),
      until: z.string(),
      partial: z.boolean().optional().describe("The hour or day still in progress."),
    }),
  ),
});
export type CloudUsage = z.infer<typeof usageSchema>;
export type UsageRange = "24h" | "7d" | "30d";
export type UsageScope = "self" | "team";

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

const showResponseSchema = z.object({
  capabilities: z.array(z.string()).optional().catch(undefined),
});

const tagsResponseSchema = z.object({
  models: z.array(
    z
      .object({
        name: z.string().optional(),
        model: z.string().optional(),
        modified_at: z.string().optional(),
        size: z.number().optional(),
        details: z.record(z.string(), z.unknown()).nullish(),
        remote_host: z.string().optional(),
        remote_model: z.string().optional(),
      })
      .refine((m) => m.name ?? m.model, "a model entry needs a name"),
  ),
});

export function createEndpoint(target: UpstreamTarget, deps: SeamDeps): Endpoint {
  const { service } = target;
  /**
   * Runs `use` with an ollama-js instance whose fetch carries this call's signal and hooks (the
   * browser build: the Node one reads any image string that names an existing file).
   */
  const withOllama = async <T>(hooks: CallHooks, use: (ollama: Ollama) => Promise<T>) => {
    const seam = createSeam(target, deps, hooks);
    try {
      return await use(new Ollama({ host: target.baseUrl, fetch: seam.fetch }));
    } finally {
      seam.close();
    }
  };
  const guard = <T>(hooks: CallHooks, what: string, call: (ollama: Ollama) => Promise<T>) =>
    guarded(() => withOllama(hooks, call), what, service);
  /** A GET of an endpoint ollama-js has no method for, through the same seam. */
  const getJson = async (path: string, hooks: CallHooks): Promise<unknown> => {
    const seam = createSeam(target, deps, hooks);
    try {
      return await (await seam.fetch(`${target.baseUrl}${path}`, { method: "GET" })).json();
    } finally {
      seam.close();
    }
  };

  return {
    service,

    chat(request, options = {}) {
      return withOllama(options, (ollama) => streamChat(ollama, request, options, service));
    },

    async webSearch(query, maxResults, options = {}) {
      // ollama-js types the field as maxResults, but the service reads max_results.
      const body = { query, max_results: maxResults } as unknown as WebSearchRequest;
      const raw = await guard(options, "web search", (ollama) => ollama.webSearch(body));
      return parse(searchResponseSchema, raw, "web search", service).results;
    },

    async webFetch(url, options = {}) {
      const raw = await guard(options, "web fetch", (ollama) => ollama.webFetch({ url }));
      return parse(fetchResponseSchema, raw, "web fetch", service);
    },

    async show(model, options = {}) {
      const raw = await guard(options, "model details", (ollama) => ollama.show({ model }));
      return parse(showResponseSchema, raw, "model details", service);
    },

    async balance(options = {}) {
      const raw = await accountGuarded(() => getJson("/api/balance", options), "balance", service);
      return parse(balanceSchema, raw, "balance", service);
    },

    async usage(range, scope, options = {}) {
      const query = new URLSearchParams({ range, scope });
      const raw = await accountGuarded(
        () => getJson(`/api/usage?${query}`, options),
        "usage",
        service,
      );
      return parse(usageSchema, raw, "usage", service);
    },

    async tags(options = {}) {
      const raw = await guard(options, "model list", (ollama) => ollama.list());
      return parse(tagsResponseSchema, raw, "model list", service).models.map((m) => ({
        name: (m.name ?? m.model) as string,
        modified_at: m.modified_at,
        size: m.size,
        details: m.details ?? undefined,
        remote_host: m.remote_host,
        remote_model: m.remote_model,
      }));
    },
  };
}

async function streamChat(
  ollama: Ollama,
  request: ChatRequest,
  options: CallOptions & { onProgress?: (progress: ChatProgress) => void },
  service: Service,
): Promise<ChatReply> {
  let final: ChatResponse | undefined;
  let content = "";
  let thinking = "";
  const toolCalls: ToolCall[] = [];
  try {
    const stream = await ollama.chat({
      model: request.model,
      messages: request.messages,
      stream: true,
      ...(request.tools !== undefined && { tools: request.tools }),
      // ollama-js 0.6 types think without "max", which the API takes (ThinkValue in
      // ollama/ollama's api/types.go); it sends the value as it is.
      ...(request.think !== undefined && { think: request.think as "high" }),
      ...(request.format !== undefined && { format: request.format }),
      ...(request.options !== undefined && { options: request.options }),
    });
    for await (const chunk of stream) {
      content += chunk.message?.content ?? "";
      thinking += chunk.message?.thinking ?? "";
      for (const call of chunk.message?.tool_calls ?? []) toolCalls.push(normalizeToolCall(call));
      options.onProgress?.({ receivedChars: content.length + thinking.length });
      if (chunk.done) final = chunk;
    }
  } catch (error) {
    throw classifyStreamFailure(error, service);
  }
  if (!final) throw new StreamError("the stream ended before the model finished", { service });
  return {
    model: final.model || request.model,
    content,
    thinking,
    tool_calls: toolCalls,
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
}

/** Runs a non-streaming call; a body that is not JSON becomes a MalformedResponseError. */
async function guarded<T>(call: () => Promise<T>, what: string, service: Service): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UpstreamError || isAbortError(error)) throw error;
    if (error instanceof SyntaxError) {
      throw new MalformedResponseError(`the ${what} answer was not JSON`, {
        cause: error,
        service,
      });
    }
    throw new MalformedResponseError(`the ${what} failed: ${(error as Error).message}`, {
      cause: error,
      service,
    });
  }
}

/** A 429 from the account endpoints is their own per-minute limit, whatever its words. */
async function accountGuarded<T>(call: () => Promise<T>, what: string, service: Service) {
  try {
    return await guarded(call, what, service);
  } catch (error) {
    if (
      (error instanceof RateLimitedError || error instanceof UsageLimitError) &&
      error.status === 429
    ) {
      throw new AccountRateLimitError(error.retryAfterSeconds, {
        cause: error,
        service,
        serviceMessage: error.serviceMessage,
      });
    }
    throw error;
  }
}

function parse<T>(schema: z.ZodType<T>, raw: unknown, what: string, service: Service): T {
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new MalformedResponseError(`the ${what} answer did not have the expected fields`, {
      cause: result.error,
      service,
    });
  }
  return result.data;
}

const NO_DONE = "Did not receive done or success response in stream.";

/** ollama-js throws plain Errors for `{"error": ...}` lines and for streams that stop early. */
function classifyStreamFailure(error: unknown, service: Service): unknown {
  if (error instanceof UpstreamError || isAbortError(error)) return error;
  if (error instanceof Error) {
    if (error.message === NO_DONE) {
      return new StreamError("the stream ended before the model finished", {
        cause: error,
        service,
      });
    }
    return new StreamError(`the service reported "${error.message}"`, { cause: error, service });
  }
  return new StreamError(String(error), { service });
}

/** Ollama sends arguments as an object; some models put a JSON string there instead. */
function normalizeToolCall(call: { function?: { name?: unknown; arguments?: unknown } }): ToolCall {
  const name = typeof call.function?.name === "string" ? call.function.name : "";
  let args = call.function?.arguments;
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      args = { _unparsed: args };
    }
  }
  const isObject = args !== null && typeof args === "object" && !Array.isArray(args);
  return { function: { name, arguments: isObject ? (args as Record<string, unknown>) : {} } };
}

function nanosToMs(nanos: number | undefined): number {
  return nanos ? Math.round(nanos / 10_000) / 100 : 0;
}
