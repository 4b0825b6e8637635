import {
  AuthError,
  CloudDisabledError,
  isAbortError,
  MissingApiKeyError,
  RateLimitedError,
  type Service,
  SigninRequiredError,
  type UpstreamError,
  UpstreamHttpError,
  UpstreamNetworkError,
  UpstreamTimeoutError,
  UsageLimitError,
} from "./errors.js";

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

const MAX_ERROR_BODY_CHARS = 8_192;
const RETRYABLE_STATUS = new Set([502, 503, 504]);
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

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
  baseFetch: Fetch,
  hooks: CallHooks = {},
  sleep: (ms: number, signal?: AbortSignal) => Promise<void> = abortableSleep,
): Fetch {
  const host = new URL(target.baseUrl).host;
  return async (input, init = {}) => {
    if (target.requiresKey && !target.apiKey) throw new MissingApiKeyError();
    const url = retarget(String(input instanceof Request ? input.url : input), target);
    const endpoint = new URL(url).pathname;
    const headers = new Headers(init.headers);
    headers.delete("authorization");
    if (target.apiKey) headers.set("authorization", `Bearer ${target.apiKey}`);
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
      const result = await sendOnce(url, { ...init, headers }, callerSignals);
      if ("response" in result) {
        report(result.response.status);
        return result.response;
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

  type Attempt =
    | { response: Response }
    | { failure: unknown; outcome: UpstreamEvent["outcome"]; retryable: boolean };

  async function sendOnce(
    url: string,
    init: RequestInit,
    callerSignals: (AbortSignal | undefined)[],
  ): Promise<Attempt> {
    const timeout = new AbortController();
    const linked = linkSignals([...callerSignals, timeout.signal]);
    const timer = setTimeout(() => timeout.abort(), policy.timeoutMs);
    let response: Response;
    try {
      response = await baseFetch(url, { ...init, signal: linked.signal });
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
    if (response.ok) {
      return {
        response: wrapBody(
          response,
          target.service,
          host,
          policy.timeoutMs,
          timeout,
          linked.dispose,
        ),
      };
    }
    linked.dispose();
    const failure = await errorFromResponse(response, target);
    const retryable = RETRYABLE_STATUS.has(response.status) || failure instanceof RateLimitedError;
    return { failure, outcome: response.status, retryable };
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

function wrapBody(
  response: Response,
  service: Service,
  host: string,
  idleMs: number,
  timeout: AbortController,
  release: () => void,
): Response {
  if (!response.body) {
    release();
    return response;
  }
  const guarded = guardBody(response.body, service, host, idleMs, timeout, release);
  const isNdjson = /ndjson/i.test(response.headers.get("content-type") ?? "");
  return new Response(isNdjson ? guarded.pipeThrough(wellFormedNdjson()) : guarded, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Bounds the wait for each chunk (a stream that keeps flowing is never cut), turns a failure
 * mid-body into a named error, and releases the signal link when the body ends.
 */
function guardBody(
  body: ReadableStream<Uint8Array>,
  service: Service,
  host: string,
  idleMs: number,
  timeout: AbortController,
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const timer = setTimeout(() => timeout.abort(), idleMs);
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        release();
        if (timeout.signal.aborted) {
          controller.error(new UpstreamTimeoutError("stream", idleMs, { cause: error, service }));
        } else if (isAbortError(error)) {
          controller.error(error);
        } else {
          controller.error(
            new UpstreamNetworkError(host, "connection lost mid-response", {
              cause: error,
              service,
            }),
          );
        }
      } finally {
        clearTimeout(timer);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason);
    },
  });
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

async function errorFromResponse(
  response: Response,
  target: UpstreamTarget,
): Promise<UpstreamError> {
  const { status, statusText } = response;
  const { service } = target;
  const text = await readCapped(response);
  const serviceMessage = serviceMessageFrom(text, response.headers.get("content-type"));
  const options = { cause: { status, body: text.slice(0, 512) }, service };
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
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

async function readCapped(response: Response): Promise<string> {
  try {
    const text = await response.text();
    return text.length > MAX_ERROR_BODY_CHARS ? text.slice(0, MAX_ERROR_BODY_CHARS) : text;
  } catch {
    return "";
  }
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
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

function isConnectionReset(error: unknown): boolean {
  const code = errorCode(error);
  if (code) return RESET_CODES.has(code);
  const message = String((error as { cause?: { message?: unknown } })?.cause?.message ?? "");
  return /other side closed|socket hang up/i.test(message);
}

function networkDetail(error: unknown): string {
  const code = errorCode(error);
  if (code) return code;
  const cause = (error as { cause?: { message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.message === "string") return cause.message;
  return error instanceof Error ? error.message : "network error";
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
