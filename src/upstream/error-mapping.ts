import type { Redact } from "../redact.js";
import {
  AuthError,
  CloudDisabledError,
  PlanSlotError,
  RateLimitedError,
  RedirectError,
  type Service,
  SigninRequiredError,
  type UpstreamError,
  UpstreamHttpError,
  UsageLimitError,
} from "./errors.js";

/** What an error answer is turned into a named error from. Bodies never leave this module whole. */
export interface ErrorAnswer {
  status: number;
  statusText: string;
  headers: Headers;
  /** The start of the body, at most a few KiB. */
  text: string;
}

export interface ErrorContext {
  service: Service;
  /** Whether a key was sent: without one, 401/403 come from a local Ollama's sign-in state. */
  sentKey: boolean;
  /** Where a rejected key came from, for the advice in the message. */
  keySource: KeySource;
  /** Removes secrets from any upstream text before it is quoted. */
  redact: Redact;
  now: number;
}

export type KeySource = "OLLAMA_API_KEY" | "caller";

const USAGE_LIMIT = /usage limit|upgrade|subscription|quota|exceeded|credits/i;
/** A plan's busy slots, whatever status the cloud gives it (seen from ollama.com in 2026). */
const SLOT_TIMEOUT = /concurrent request slot/i;

export function errorFromAnswer(answer: ErrorAnswer, context: ErrorContext): UpstreamError {
  const { status, statusText, headers } = answer;
  const { service, redact } = context;
  const serviceMessage = mapDefined(
    serviceMessageFrom(answer.text, headers.get("content-type")),
    redact,
  );
  const options = { cause: { status }, service, serviceMessage };
  const retryAfter = parseRetryAfter(headers.get("retry-after"), context.now);
  if (status >= 300 && status < 400) {
    return new RedirectError(
      status,
      mapDefined(redirectTarget(headers.get("location")), redact),
      options,
    );
  }
  if (!context.sentKey) {
    // A local Ollama: 401 means it is not signed in, 403 "cloud is disabled" that the user said no.
    if (status === 401)
      return new SigninRequiredError(service, signinUrlFrom(answer.text), options);
    if (status === 403 && /cloud is disabled/i.test(serviceMessage ?? "")) {
      return new CloudDisabledError(service, serviceMessage as string, options);
    }
  }
  if (status === 401 || status === 403) {
    return new AuthError(status, serviceMessage, context.keySource, options);
  }
  if (serviceMessage && SLOT_TIMEOUT.test(serviceMessage)) {
    return new PlanSlotError(status, serviceMessage, options);
  }
  if (status === 402 || (status === 429 && USAGE_LIMIT.test(serviceMessage ?? ""))) {
    return new UsageLimitError(status, serviceMessage, retryAfter, options);
  }
  if (status === 429) return new RateLimitedError(serviceMessage, retryAfter, options);
  return new UpstreamHttpError(status, statusText, serviceMessage, options);
}

function mapDefined(value: string | undefined, map: (text: string) => string): string | undefined {
  return value === undefined ? undefined : map(value);
}

/** A Location worth quoting: an absolute http(s) URL of sane length, never free text. */
function redirectTarget(location: string | null): string | undefined {
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
    return typeof url === "string" && /^https:\/\/[^\s]{1,500}$/.test(url) ? url : undefined;
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
      if (typeof error === "string") return shorten(error);
      if (error && typeof error === "object" && "message" in error) {
        return shorten(String((error as { message: unknown }).message));
      }
    }
    return undefined;
  } catch {
    const looksLikeMarkup = /html|xml/i.test(contentType ?? "") || trimmed.startsWith("<");
    if (looksLikeMarkup) return "the service answered with an HTML error page instead of JSON";
    return shorten(trimmed);
  }
}

function shorten(text: string): string {
  return text.length <= 300 ? text : `${text.slice(0, 300)}…`;
}

export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** The system error behind a failed fetch: fetch wraps it in a TypeError's `cause`. */
function rootCause(error: unknown): { code?: string; message?: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return { code, message: (current as Error).message };
    current = (current as { cause?: unknown }).cause;
  }
  return { message: error instanceof Error ? error.message : undefined };
}

const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);

/** The connection broke after it was made: the request may or may not have reached the server. */
export function isConnectionReset(error: unknown): boolean {
  const { code } = rootCause(error);
  return code !== undefined && RESET_CODES.has(code);
}

/** A short, secret-free description of a network failure, e.g. ECONNREFUSED. */
export function networkDetail(error: unknown): string {
  const { code } = rootCause(error);
  if (code === "UND_ERR_SOCKET") return "the connection was closed by the server";
  if (code && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
  return "network error";
}
