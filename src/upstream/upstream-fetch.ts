import {
  AuthError,
  CloudDisabledError,
  isAbortError,
  MissingApiKeyError,
  RateLimitedError,
  RedirectError,
  type Service,
  SigninRequiredError,
  type UpstreamError,
  UpstreamHttpError,
  UpstreamNetworkError,
  UpstreamTimeoutError,
  UsageLimitError,
} from "./errors.js";
import type { Exchange, SendRequest } from "./http-transport.js";

export type Fetch = typeof globalThis.fetch;

export interface UpstreamTarget {
  /** Base URL requests go to, without a trailing slash. */
  baseUrl: string;
  /** Sent as a bearer token; undefined means the target needs none (and gets none). */
  apiKey: string | undefined;
  /** When true, a missing key fails the call before anything is sent. */
  requiresKey: boolean;
  service: Service;
  /** Paths this target serves elsewhere, e.g. /api/web_search at /api/experimental/web_search. */
  paths?: Readonly<Record<string, string>>;
}

export interface RetryPolicy {
  /** Bounds the wait for response headers, and then for each chunk of the body. */
  timeoutMs: number;
  /** Extra attempts after a transient failure. */
  retries: number;
  /** First backoff delay; each retry doubles it, with full jitter. */
  backoffMs: number;
  /** A 429 asking for a longer pause than this is returned to the caller instead of waited out. */
  maxRetryAfterMs: number;
  /** No retry starts once this much time has passed since the first attempt. */
  retryBudgetMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  timeoutMs: 120_000,
  retries: 2,
  backoffMs: 250,
  maxRetryAfterMs: 10_000,
  retryBudgetMs: 30_000,
};

/** What happened on the wire, for operational logs. Never carries bodies, queries or the key. */
export interface UpstreamEvent {
  endpoint: string;
  attempt: number;
  /** HTTP status, or the kind of failure when there was no response. */
  outcome: number | "network-error" | "timeout" | "cancelled";
  ms: number;
  /** Set when another attempt follows after this many milliseconds. */
  retryInMs?: number;
}

export interface CallHooks {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: UpstreamEvent) => void) | undefined;
}

const MAX_ERROR_BODY_BYTES = 8_192;
const RETRYABLE_STATUS = new Set([502, 503, 504]);
const RESET_CODES = new Set(["ECONNRESET", "EPIPE"]);

/**
 * Builds the `fetch` given to ollama-js for one call. ollama-js hard-codes https://ollama.com for
 * web search/fetch and injects process.env.OLLAMA_API_KEY for that host, so this seam re-targets
 * every URL to the configured base and replaces whatever Authorization header it was given.
 * Non-2xx answers become named errors here, before ollama-js's own error path (which prints to
 * stdout) can run. Retries happen only before a response is handed back, so a stream that has
 * started is never sent twice.
 */
export function createUpstreamFetch(
  target: UpstreamTarget,
  policy: RetryPolicy,
  send: SendRequest,
  hooks: CallHooks = {},
  sleep: (ms: number, signal?: AbortSignal) => Promise<void> = abortableSleep,
): Fetch {
  const host = new URL(target.baseUrl).host;
  const upstreamFetch = async (input: string | URL, init: RequestInit = {}) => {
    if (target.requiresKey && !target.apiKey) throw new MissingApiKeyError();
    const url = retarget(String(input), target);
    const endpoint = new URL(url).pathname;
    const headers = headerRecord(init.headers);
    delete headers.authorization;
    if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
    if (init.body != null && typeof init.body !== "string") {
      throw new TypeError("the upstream seam sends string bodies only");
    }
    const request = { method: init.method ?? "GET", headers, body: init.body ?? undefined };
    const callerSignals = [init.signal ?? undefined, hooks.signal];
    const started = Date.now();

    for (let attempt = 1; ; attempt++) {
      const attemptStarted = Date.now();
      const report = (outcome: UpstreamEvent["outcome"], retryInMs?: number) =>
        hooks.onEvent?.({
          endpoint,
          attempt,
          outcome,
          ms: Date.now() - attemptStarted,
          ...(retryInMs !== undefined && { retryInMs }),
        });
      const result = await sendOnce(url, request, callerSignals);
      if ("response" in result) {
        report(result.response.status);
        // ollama-js reads only ok, json() and body of a successful response.
        return result.response as unknown as Response;
      }
      const { failure, outcome } = result;
      const retryInMs = result.retryable
        ? retryDelay(failure, attempt, policy, started)
        : undefined;
      report(outcome, retryInMs);
      if (retryInMs === undefined) throw failure;
      await sleep(retryInMs, hooks.signal);
    }
  };
  return upstreamFetch as Fetch;

  type Attempt =
    | { response: UpstreamResponse }
    | { failure: unknown; outcome: UpstreamEvent["outcome"]; retryable: boolean };

  async function sendOnce(
    url: string,
    request: { method: string; headers: Record<string, string>; body: string | undefined },
    callerSignals: (AbortSignal | undefined)[],
  ): Promise<Attempt> {
    const timeout = new AbortController();
    const linked = linkSignals([...callerSignals, timeout.signal]);
    const timer = setTimeout(() => timeout.abort(), policy.timeoutMs);
    let exchange: Exchange;
    try {
      exchange = await send(url, { ...request, signal: linked.signal });
    } catch (error) {
      linked.dispose();
      if (timeout.signal.aborted) {
        const failure = new UpstreamTimeoutError("response", policy.timeoutMs, {
          cause: error,
          service: target.service,
        });
        return { failure, outcome: "timeout", retryable: false };
      }
      if (isAbortError(error)) return { failure: error, outcome: "cancelled", retryable: false };
      const failure = new UpstreamNetworkError(host, networkDetail(error), {
        cause: error,
        service: target.service,
      });
      return { failure, outcome: "network-error", retryable: isConnectionReset(error) };
    } finally {
      clearTimeout(timer);
    }
    const body = guardedBody(
      exchange,
      target.service,
      host,
      policy.timeoutMs,
      timeout,
      linked.dispose,
    );
    if (exchange.status >= 200 && exchange.status < 300) {
      return { response: new UpstreamResponse(exchange, body) };
    }
    const failure = await errorFromExchange(exchange, body, target);
    const retryable = RETRYABLE_STATUS.has(exchange.status) || failure instanceof RateLimitedError;
    return { failure, outcome: exchange.status, retryable };
  }
}

/** Request headers as a plain record with lower-case names, whatever form ollama-js used. */
function headerRecord(init: RequestInit["headers"]): Record<string, string> {
  const record: Record<string, string> = {};
  if (!init) return record;
  const entries: Iterable<[string, string]> =
    Symbol.iterator in init
      ? (init as Iterable<[string, string]>)
      : Object.entries(init as Record<string, string>);
  for (const [name, value] of entries) record[name.toLowerCase()] = value;
  return record;
}

/**
 * What ollama-js gets for a 2xx answer: the part of a fetch Response it reads (ok, status,
 * json(), body). A full Response would cost web streams on every call; the stream is only built
 * for the one caller that wants it, a streamed chat.
 */
class UpstreamResponse {
  readonly ok = true;
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  private stream: ReadableStream<Uint8Array> | undefined;

  constructor(
    private readonly exchange: Exchange,
    private readonly chunks: AsyncGenerator<Uint8Array>,
  ) {
    this.status = exchange.status;
    this.statusText = exchange.statusText;
    this.headers = { get: (name) => exchange.header(name) ?? null };
  }

  async text(): Promise<string> {
    const parts: Uint8Array[] = [];
    for await (const chunk of this.chunks) parts.push(chunk);
    return Buffer.concat(parts).toString("utf8");
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  get body(): ReadableStream<Uint8Array> {
    if (!this.stream) {
      const chunks = this.chunks;
      const stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await chunks.next();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        async cancel() {
          await chunks.return(undefined);
        },
      });
      const isNdjson = /ndjson/i.test(this.exchange.header("content-type") ?? "");
      this.stream = isNdjson ? stream.pipeThrough(wellFormedNdjson()) : stream;
    }
    return this.stream;
  }
}

/** Milliseconds to wait before the next attempt, or undefined when this failure is final. */
function retryDelay(
  failure: unknown,
  attempt: number,
  policy: RetryPolicy,
  started: number,
): number | undefined {
  if (attempt > policy.retries) return undefined;
  let delay: number;
  if (failure instanceof RateLimitedError) {
    // Only a short, explicit pause is waited out; anything else goes back to the caller.
    if (failure.retryAfterSeconds === undefined) return undefined;
    delay = failure.retryAfterSeconds * 1000;
    if (delay > policy.maxRetryAfterMs) return undefined;
    delay += Math.random() * policy.backoffMs;
  } else {
    delay = Math.random() * policy.backoffMs * 2 ** (attempt - 1);
  }
  if (Date.now() - started + delay > policy.retryBudgetMs) return undefined;
  return Math.round(delay);
}

/** Keeps the `/api/...` path and query of a URL ollama-js built, on the target's base. */
export function retarget(url: string, target: Pick<UpstreamTarget, "baseUrl" | "paths">): string {
  const parsed = new URL(url);
  const apiAt = parsed.pathname.lastIndexOf("/api/");
  const path = apiAt >= 0 ? parsed.pathname.slice(apiAt) : parsed.pathname;
  return `${target.baseUrl}${target.paths?.[path] ?? path}${parsed.search}`;
}

/**
 * The body of an answer, chunk by chunk. Bounds the wait for each chunk (a stream that keeps
 * flowing is never cut), turns a failure mid-body into a named error, and releases the signal
 * link when the body ends or its reader stops.
 */
async function* guardedBody(
  exchange: Exchange,
  service: Service,
  host: string,
  idleMs: number,
  timeout: AbortController,
  release: () => void,
): AsyncGenerator<Uint8Array> {
  const chunks = exchange.body[Symbol.asyncIterator]();
  const timer = setTimeout(() => timeout.abort(), idleMs);
  try {
    for (;;) {
      timer.refresh();
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (error) {
        if (timeout.signal.aborted) {
          throw new UpstreamTimeoutError("stream", idleMs, { cause: error, service });
        }
        if (isAbortError(error)) throw error;
        throw new UpstreamNetworkError(host, "connection lost mid-response", {
          cause: error,
          service,
        });
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    release();
    // A reader that stopped early leaves the rest unread: close it rather than drain it.
    exchange.discard();
  }
}

const MALFORMED_LINE = `${JSON.stringify({ error: "a line of the response stream was not valid JSON" })}\n`;

/**
 * ollama-js skips NDJSON lines it cannot parse and prints them with console.warn, which would put
 * model output in the logs and hide the fault. This turns such a line into an error line instead.
 */
function wellFormedNdjson(): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const checkLine = (line: string): string => {
    if (!line.trim()) return "";
    try {
      JSON.parse(line);
      return `${line}\n`;
    } catch {
      return MALFORMED_LINE;
    }
  };
  return new TransformStream({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      const out = lines.map(checkLine).join("");
      if (out) controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      const out = checkLine(pending + decoder.decode());
      if (out) controller.enqueue(encoder.encode(out));
    },
  });
}

const USAGE_LIMIT = /usage limit|upgrade|subscription|quota|exceeded/i;

async function errorFromExchange(
  exchange: Exchange,
  body: AsyncGenerator<Uint8Array>,
  target: UpstreamTarget,
): Promise<UpstreamError> {
  const { status, statusText } = exchange;
  const { service } = target;
  const text = await readCapped(body);
  const serviceMessage = serviceMessageFrom(text, exchange.header("content-type") ?? null);
  const options = { cause: { status, body: text.slice(0, 512) }, service };
  const retryAfter = parseRetryAfter(exchange.header("retry-after") ?? null);
  if (status >= 300 && status < 400) {
    return new RedirectError(status, redirectTarget(exchange.header("location")), options);
  }
  if (!target.apiKey) {
    // A local Ollama: 401 means it is not signed in, 403 "cloud is disabled" that the user said no.
    if (status === 401) return new SigninRequiredError(service, signinUrlFrom(text), options);
    if (status === 403 && /cloud is disabled/i.test(serviceMessage ?? "")) {
      return new CloudDisabledError(service, serviceMessage as string, options);
    }
  }
  if (status === 401 || status === 403) return new AuthError(status, serviceMessage, options);
  if (status === 402 || (status === 429 && USAGE_LIMIT.test(serviceMessage ?? ""))) {
    return new UsageLimitError(status, serviceMessage, retryAfter, options);
  }
  if (status === 429) return new RateLimitedError(serviceMessage, retryAfter, options);
  return new UpstreamHttpError(status, statusText, serviceMessage, options);
}

/** A Location worth quoting: an absolute http(s) URL of sane length, never free text. */
function redirectTarget(location: string | undefined): string | undefined {
  if (!location || location.length > 300) return undefined;
  try {
    const url = new URL(location);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function signinUrlFrom(text: string): string | undefined {
  try {
    const url = (JSON.parse(text) as { signin_url?: unknown }).signin_url;
    return typeof url === "string" && /^https:\/\//.test(url) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The `error` of a JSON body, or a short plain-text body; never an HTML page. */
export function serviceMessageFrom(text: string, contentType: string | null): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  try {
    const body: unknown = JSON.parse(trimmed);
    if (body && typeof body === "object" && "error" in body) {
      const error = (body as { error: unknown }).error;
      if (typeof error === "string") return error;
      if (error && typeof error === "object" && "message" in error) {
        return String((error as { message: unknown }).message);
      }
    }
    return undefined;
  } catch {
    const looksLikeMarkup = /html|xml/i.test(contentType ?? "") || trimmed.startsWith("<");
    if (looksLikeMarkup) return "the service answered with an HTML error page instead of JSON";
    return trimmed.length <= 300 ? trimmed : `${trimmed.slice(0, 300)}…`;
  }
}

/** The start of an error body; an error page that stalls or breaks yields what arrived. */
async function readCapped(body: AsyncGenerator<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  try {
    for await (const chunk of body) {
      parts.push(chunk);
      bytes += chunk.length;
      if (bytes >= MAX_ERROR_BODY_BYTES) break;
    }
  } catch {
    // The status alone still says what went wrong.
  }
  return Buffer.concat(parts).subarray(0, MAX_ERROR_BODY_BYTES).toString("utf8");
}

export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

function isConnectionReset(error: unknown): boolean {
  const code = errorCode(error);
  if (code) return RESET_CODES.has(code);
  return /socket hang up/i.test(error instanceof Error ? error.message : "");
}

function networkDetail(error: unknown): string {
  return errorCode(error) ?? (error instanceof Error ? error.message : "network error");
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  const aborted = () => new DOMException("The call was cancelled", "AbortError");
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * One signal that aborts when any input does. Unlike AbortSignal.any it detaches its listeners
 * on dispose, so a long-lived server does not accumulate them.
 */
export function linkSignals(inputs: readonly (AbortSignal | undefined)[]): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const signals = inputs.filter((s): s is AbortSignal => s !== undefined);
  const controller = new AbortController();
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  const already = signals.find((s) => s.aborted);
  if (already) controller.abort(already.reason);
  else for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of signals) s.removeEventListener("abort", onAbort);
    },
  };
}
