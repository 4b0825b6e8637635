import { API_KEYS_URL } from "../config.js";

/**
 * Everything that can go wrong talking to Ollama's cloud. Each message is written for the
 * person (or model) reading the tool result: what happened and what to do about it.
 * Messages never contain the API key, prompts or results.
 */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  /** HTTP status from the service, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number | undefined }) {
    super(message, { cause: options?.cause });
    this.status = options?.status;
  }
}

export class MissingApiKeyError extends UpstreamError {
  override name = "MissingApiKeyError";
  constructor() {
    super(
      `OLLAMA_API_KEY is not set, so this server cannot call Ollama's cloud. Create a key at ${API_KEYS_URL} and set OLLAMA_API_KEY in the server's environment (for example in the "env" block of your MCP client's config), then restart the server.`,
    );
  }
}

export class AuthError extends UpstreamError {
  override name = "AuthError";
  constructor(status: number, serviceMessage: string | undefined, options?: { cause?: unknown }) {
    super(
      `Ollama's cloud rejected the API key (${status}${serviceMessage ? `: ${clause(serviceMessage)}` : ""}). Check that OLLAMA_API_KEY is correct and has not been revoked at ${API_KEYS_URL}.`,
      { ...options, status },
    );
  }
}

export class ModelNotFoundError extends UpstreamError {
  override name = "ModelNotFoundError";
  readonly model: string;
  readonly available: readonly string[];
  constructor(model: string, available: readonly string[], options?: { cause?: unknown }) {
    const suggestion = available.length
      ? ` Cloud models available now include: ${available.join(", ")}.`
      : " Run list_models or see https://ollama.com/search?c=cloud for the current list.";
    super(`Model "${model}" is not available on Ollama's cloud.${suggestion}`, {
      ...options,
      status: 404,
    });
    this.model = model;
    this.available = available;
  }
}

/** Hourly, session or weekly usage limits (429, sometimes 402). The service's message is meant for the user. */
export class UsageLimitError extends UpstreamError {
  override name = "UsageLimitError";
  readonly retryAfterSeconds: number | undefined;
  constructor(
    status: number,
    serviceMessage: string | undefined,
    retryAfterSeconds: number | undefined,
    options?: { cause?: unknown },
  ) {
    const retry = retryAfterSeconds !== undefined ? ` Retry after ${retryAfterSeconds}s.` : "";
    super(
      `Ollama's cloud usage limit reached (${status}): ${clause(serviceMessage) ?? "too many requests"}.${retry} See https://ollama.com/settings for your plan's limits.`,
      { ...options, status },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A 429 that is not a usage limit: the service asks for a pause. */
export class RateLimitedError extends UpstreamError {
  override name = "RateLimitedError";
  readonly retryAfterSeconds: number | undefined;
  constructor(
    serviceMessage: string | undefined,
    retryAfterSeconds: number | undefined,
    options?: { cause?: unknown },
  ) {
    const when =
      retryAfterSeconds !== undefined ? `retry after ${retryAfterSeconds}s` : "retry in a moment";
    const detail = clause(serviceMessage);
    super(
      `Ollama's cloud is rate limiting requests (429${detail ? `: ${detail}` : ""}); ${when}.`,
      {
        ...options,
        status: 429,
      },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class UpstreamTimeoutError extends UpstreamError {
  override name = "UpstreamTimeoutError";
  constructor(phase: "response" | "stream", timeoutMs: number, options?: { cause?: unknown }) {
    const seconds = formatSeconds(timeoutMs);
    super(
      phase === "response"
        ? `Ollama's cloud did not start answering within ${seconds} (the limit set by OLLAMA_CLOUD_TIMEOUT_MS), so the call timed out. Try again, or raise the limit for slow models.`
        : `The answer stopped arriving: no data for ${seconds} (the limit set by OLLAMA_CLOUD_TIMEOUT_MS), so the call timed out. Try again.`,
      options,
    );
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

export class UpstreamHttpError extends UpstreamError {
  override name = "UpstreamHttpError";
  constructor(
    status: number,
    statusText: string,
    serviceMessage: string | undefined,
    options?: { cause?: unknown },
  ) {
    const server = status >= 500;
    const what = server
      ? `Ollama's cloud had a server error (${status} ${statusText})`
      : `Ollama's cloud refused the request (${status} ${statusText})`;
    const advice = server
      ? " This is usually temporary; try again in a moment."
      : " Check the arguments of the call.";
    const detail = clause(serviceMessage);
    super(`${what}${detail ? `: ${detail}` : ""}.${advice}`, { ...options, status });
  }
}

export class UpstreamNetworkError extends UpstreamError {
  override name = "UpstreamNetworkError";
  constructor(host: string, detail: string, options?: { cause?: unknown }) {
    super(
      `Could not reach Ollama's cloud at ${host} (${detail}). Check the network connection and OLLAMA_CLOUD_HOST, then try again.`,
      options,
    );
  }
}

export class MalformedResponseError extends UpstreamError {
  override name = "MalformedResponseError";
  constructor(what: string, options?: { cause?: unknown; status?: number }) {
    super(
      `Ollama's cloud sent a response this server could not understand (${what}). Try again; if it persists, check OLLAMA_CLOUD_HOST points at the Ollama API.`,
      options,
    );
  }
}

/** The service reported an error inside a 200 stream, or the stream ended before it was done. */
export class StreamError extends UpstreamError {
  override name = "StreamError";
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`The model's response stream failed: ${clause(detail)}. Try again.`, options);
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

/** A service message ready to sit inside a sentence: trimmed, without trailing full stops. */
function clause(message: string | undefined): string | undefined {
  const trimmed = message?.trim().replace(/[.\s]+$/, "");
  return trimmed ? trimmed : undefined;
}
