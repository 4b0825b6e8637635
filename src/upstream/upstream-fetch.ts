import {
  AuthError,
  isAbortError,
  MissingApiKeyError,
  type UpstreamError,
  UpstreamHttpError,
  UpstreamNetworkError,
  UsageLimitError,
} from "./errors.js";

export type Fetch = typeof globalThis.fetch;

export interface UpstreamTarget {
  /** Base URL requests go to, without a trailing slash. */
  baseUrl: string;
  /** Sent as a bearer token; undefined means the target needs none. */
  apiKey: string | undefined;
  /** When true, a missing key fails the call before anything is sent. */
  requiresKey: boolean;
}

const MAX_ERROR_BODY_CHARS = 8_192;

/**
 * Builds the `fetch` given to ollama-js for one call. ollama-js hard-codes https://ollama.com for
 * web search/fetch and injects process.env.OLLAMA_API_KEY for that host, so this seam re-targets
 * every URL to the configured base and replaces whatever Authorization header it was given.
 * Non-2xx answers become named errors here, before ollama-js's own error path (which prints to
 * stdout) can run.
 */
export function createUpstreamFetch(
  target: UpstreamTarget,
  baseFetch: Fetch,
  callSignal: AbortSignal | undefined,
): Fetch {
  const host = new URL(target.baseUrl).host;
  return async (input, init = {}) => {
    if (target.requiresKey && !target.apiKey) throw new MissingApiKeyError();
    const url = retarget(String(input instanceof Request ? input.url : input), target.baseUrl);
    const headers = new Headers(init.headers);
    headers.delete("authorization");
    if (target.apiKey) headers.set("authorization", `Bearer ${target.apiKey}`);

    const linked = linkSignals(init.signal ?? undefined, callSignal);
    let response: Response;
    try {
      response = await baseFetch(url, { ...init, headers, signal: linked.signal });
    } catch (error) {
      linked.dispose();
      if (isAbortError(error)) throw error;
      throw new UpstreamNetworkError(host, networkDetail(error), { cause: error });
    }
    if (!response.ok) {
      linked.dispose();
      throw await errorFromResponse(response);
    }
    if (!response.body) {
      linked.dispose();
      return response;
    }
    const guarded = guardBody(response.body, host, linked.dispose);
    const isNdjson = /ndjson/i.test(response.headers.get("content-type") ?? "");
    return new Response(isNdjson ? guarded.pipeThrough(wellFormedNdjson()) : guarded, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/** Keeps the `/api/...` path and query of a URL ollama-js built, on the configured base. */
export function retarget(url: string, baseUrl: string): string {
  const parsed = new URL(url);
  const apiAt = parsed.pathname.lastIndexOf("/api/");
  const path = apiAt >= 0 ? parsed.pathname.slice(apiAt) : parsed.pathname;
  return `${baseUrl}${path}${parsed.search}`;
}

/** Turns a failure mid-body into a named error and releases the signal link when the body ends. */
function guardBody(
  body: ReadableStream<Uint8Array>,
  host: string,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          onEnd();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        onEnd();
        controller.error(
          isAbortError(error)
            ? error
            : new UpstreamNetworkError(host, "connection lost mid-response", { cause: error }),
        );
      }
    },
    async cancel(reason) {
      onEnd();
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

async function errorFromResponse(response: Response): Promise<UpstreamError> {
  const { status, statusText } = response;
  const text = await readCapped(response);
  const serviceMessage = serviceMessageFrom(text, response.headers.get("content-type"));
  const cause = { status, body: text.slice(0, 512) };
  if (status === 401 || status === 403) return new AuthError(status, serviceMessage, { cause });
  if (status === 429 || status === 402) {
    return new UsageLimitError(
      status,
      serviceMessage,
      parseRetryAfter(response.headers.get("retry-after")),
      { cause },
    );
  }
  return new UpstreamHttpError(status, statusText, serviceMessage, { cause });
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

function networkDetail(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === "string") return cause.code;
  if (cause && typeof cause.message === "string") return cause.message;
  return error instanceof Error ? error.message : "network error";
}

/**
 * One signal that aborts when either input does. Unlike AbortSignal.any it detaches its listeners
 * on dispose, so a long-lived server does not accumulate them.
 */
export function linkSignals(
  a: AbortSignal | undefined,
  b: AbortSignal | undefined,
): { signal: AbortSignal | undefined; dispose: () => void } {
  if (!a || !b) return { signal: a ?? b, dispose: () => {} };
  const controller = new AbortController();
  const abort = (event: Event) =>
    controller.abort((event.target as AbortSignal | null)?.reason ?? undefined);
  if (a.aborted) controller.abort(a.reason);
  else if (b.aborted) controller.abort(b.reason);
  else {
    a.addEventListener("abort", abort, { once: true });
    b.addEventListener("abort", abort, { once: true });
  }
  return {
    signal: controller.signal,
    dispose: () => {
      a.removeEventListener("abort", abort);
      b.removeEventListener("abort", abort);
    },
  };
}
