import { type ChatResponse, Ollama, type WebSearchRequest } from "ollama/browser";
import * as z from "zod";
import type { Redact } from "../redact.js";
import {
  AccountRateLimitError,
  MalformedResponseError,
  RateLimitedError,
  type Service,
  StreamError,
  UpstreamError,
  UsageLimitError,
} from "./errors.js";
import {
  type CallHooks,
  createSeam,
  type Fetch,
  redactionFor,
  type SeamDeps,
  type UpstreamTarget,
} from "./fetch-seam.js";
import { ndjsonObjects } from "./ndjson.js";
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
  const seam = createSeam(target, deps);
  // One client for this target, reused by every call; each call's hooks reach the seam's fetch
  // through seam.call. The browser build: the Node one reads any image string that names a file.
  const ollama = new Ollama({ host: target.baseUrl, fetch: seam.fetch });
  const guard = <T>(hooks: CallHooks, what: string, call: (ollama: Ollama) => Promise<T>) =>
    guarded(() => seam.call(hooks, () => call(ollama)), what, service);
  /** A GET of an endpoint ollama-js has no method for, through the same seam. */
  const getJson = (path: string, hooks: CallHooks): Promise<unknown> =>
    seam.call(hooks, async () =>
      (await seam.fetch(`${target.baseUrl}${path}`, { method: "GET" })).json(),
    );

  return {
    service,

    chat(request, options = {}) {
      return seam.call(options, () =>
        streamChat(seam.fetch, target, request, options, redactionFor(target, deps, options)),
      );
    },

    async webSearch(query, maxResults, options = {}) {
      // ollama-js types the field as maxResults, but the service reads max_results.
      const body = { query, max_results: maxResults } as unknown as WebSearchRequest;
      const raw = await guard(options, "web search", (client) => client.webSearch(body));
      return parse(searchResponseSchema, raw, "web search", service).results;
    },

    async webFetch(url, options = {}) {
      const raw = await guard(options, "web fetch", (client) => client.webFetch({ url }));
      return parse(fetchResponseSchema, raw, "web fetch", service);
    },

    async show(model, options = {}) {
      const raw = await guard(options, "model details", (client) => client.show({ model }));
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
      const raw = await guard(options, "model list", (client) => client.list());
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

/** A chunk of /api/chat's stream (docs/api/chat.mdx), as far as a reply is made of it. */
type ChatChunk = Partial<ChatResponse> & { error?: unknown };

/**
 * Streams /api/chat and reads it once, line by line. Not through ollama-js's stream reader: it
 * skips a line it cannot parse (printing it with console) and reports an error line and an early
 * end only by an Error's wording, where a reply must lose nothing and fail by type.
 */
async function streamChat(
  fetch: Fetch,
  target: UpstreamTarget,
  request: ChatRequest,
  options: CallOptions & { onProgress?: (progress: ChatProgress) => void },
  redact: Redact,
): Promise<ChatReply> {
  const { service } = target;
  const response = await fetch(`${target.baseUrl}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/x-ndjson" },
    body: chatBody(request),
  });
  if (!response.body) throw new StreamError("the answer had no body", { service });
  let final: ChatChunk | undefined;
  let content = "";
  let thinking = "";
  const toolCalls: ToolCall[] = [];
  for await (const chunk of ndjsonObjects(response.body, service) as AsyncIterable<ChatChunk>) {
    if (chunk.error !== undefined) {
      const text = typeof chunk.error === "string" ? chunk.error : JSON.stringify(chunk.error);
      throw new StreamError(`the service reported "${redact(text)}"`, { service });
    }
    content += chunk.message?.content ?? "";
    thinking += chunk.message?.thinking ?? "";
    for (const call of chunk.message?.tool_calls ?? []) toolCalls.push(normalizeToolCall(call));
    options.onProgress?.({ receivedChars: content.length + thinking.length });
    if (chunk.done) {
      final = chunk;
      break;
    }
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

/** The request as /api/chat takes it: images base64-encoded, unset fields left out. */
function chatBody(request: ChatRequest): string {
  const messages = request.messages.map((message) =>
    message.images
      ? { ...message, images: message.images.map((image) => Buffer.from(image).toString("base64")) }
      : message,
  );
  return JSON.stringify({ ...request, messages, stream: true });
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
