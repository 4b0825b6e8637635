import { API_KEYS_URL } from "../hosts.js";

/** Which server a call went to, for messages that tell the user what to check. */
export interface Service {
  /** How a message names it: "Ollama's cloud", "your local Ollama at 127.0.0.1:11434". */
  name: string;
  /** The setting that points at it. */
  setting: "OLLAMA_CLOUD_HOST" | "OLLAMA_HOST";
}

export const CLOUD: Service = { name: "Ollama's cloud", setting: "OLLAMA_CLOUD_HOST" };

interface ErrorOptions {
  cause?: unknown;
  status?: number | undefined;
  service?: Service;
  /** The service's own message, as it can be quoted (shortened, secrets removed). */
  serviceMessage?: string | undefined;
}

/**
 * Everything that can go wrong talking to Ollama. Each message is written for the person (or
 * model) reading the tool result: what happened and what to do about it. Messages never contain
 * the API key, prompts or results.
 */
export class UpstreamError extends Error {
  override name = "UpstreamError";
  /** HTTP status from the service, when there was one. */
  readonly status: number | undefined;
  readonly service: Service;
  readonly serviceMessage: string | undefined;

  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.status = options.status;
    this.service = options.service ?? CLOUD;
    this.serviceMessage = options.serviceMessage;
  }
}

export class MissingApiKeyError extends UpstreamError {
  override name = "MissingApiKeyError";
  constructor() {
    super(
      `OLLAMA_API_KEY is not set, so this server cannot call Ollama's cloud. Create a key at ${API_KEYS_URL} and set OLLAMA_API_KEY in the server's environment (in the "env" block of your MCP client's config, or the API key field of the Claude Desktop extension's settings), then restart the server. If you use the Ollama app and have run \`ollama signin\`, set OLLAMA_MODE=hybrid instead: no key is needed then.`,
    );
  }
}

/** No key, and the local Ollama that could have carried the call to the cloud is not there. */
export class NoWayToCloudError extends UpstreamError {
  override name = "NoWayToCloudError";
  constructor(ollamaHost: string, options: ErrorOptions = {}) {
    super(
      `This server has no way to Ollama's cloud: OLLAMA_API_KEY is not set, and no Ollama answers at ${ollamaHost}. Either set OLLAMA_API_KEY (create a key at ${API_KEYS_URL}), or start the Ollama app and run \`ollama signin\` so your Ollama can reach the cloud for you.`,
      options,
    );
  }
}

export class AuthError extends UpstreamError {
  override name = "AuthError";
  constructor(
    status: number,
    serviceMessage: string | undefined,
    keySource: "OLLAMA_API_KEY" | "caller",
    options: ErrorOptions = {},
  ) {
    const check =
      keySource === "caller"
        ? "Check the Ollama API key your MCP client sends as its bearer token"
        : "Check that OLLAMA_API_KEY is correct";
    super(
      `Ollama's cloud rejected the API key (${status}${serviceMessage ? `: ${clause(serviceMessage)}` : ""}). ${check} and that it has not been revoked at ${API_KEYS_URL}.`,
      { ...options, status },
    );
  }
}

/** The local Ollama's cloud proxy answered 401: the machine is not signed in to ollama.com. */
export class SigninRequiredError extends UpstreamError {
  override name = "SigninRequiredError";
  readonly signinUrl: string | undefined;
  constructor(service: Service, signinUrl: string | undefined, options: ErrorOptions = {}) {
    super(
      `${capitalize(service.name)} is not signed in to ollama.com, so it cannot reach the cloud. Run \`ollama signin\`${signinUrl ? ` (or open ${signinUrl})` : ""}, then try again.`,
      { ...options, service, status: 401 },
    );
    this.signinUrl = signinUrl;
  }
}

/** The local Ollama answered 403 "cloud is disabled": the user turned cloud use off there. */
export class CloudDisabledError extends UpstreamError {
  override name = "CloudDisabledError";
  constructor(service: Service, serviceMessage: string, options: ErrorOptions = {}) {
    super(
      `Cloud use is turned off on ${service.name} (${clause(serviceMessage)}). This server will not go around that choice. To allow it again, turn cloud models back on in the Ollama app's settings, or start the Ollama server without OLLAMA_NO_CLOUD=1.`,
      { ...options, service, status: 403 },
    );
  }
}

/** A model the cloud does not have any more: Ollama retired it, and names what to use instead. */
export class RetiredModelError extends UpstreamError {
  override name = "RetiredModelError";
  constructor(
    model: string,
    retirement: { date: string; replacement: string | undefined },
    available: { replacementListed: boolean; others: readonly string[] },
    options: ErrorOptions = {},
  ) {
    const { replacement } = retirement;
    const others = available.others.length
      ? ` Models available there now include: ${available.others.join(", ")}.`
      : "";
    const instead = !replacement
      ? `Ollama names no replacement for it.${others}`
      : available.replacementListed
        ? `Ollama recommends ${replacement} instead, which the cloud has.`
        : `Ollama recommended ${replacement}, which the cloud does not list now either.${others}`;
    super(
      `Model "${model}" was retired from Ollama's cloud on ${retirement.date}. ${instead} (https://docs.ollama.com/cloud/model-lifecycle)`,
      { ...options, status: 404 },
    );
  }
}

/** think was given for a model that does not think. */
export class ThinkingNotSupportedError extends UpstreamError {
  override name = "ThinkingNotSupportedError";
  constructor(model: string, thinkers: readonly string[], options: ErrorOptions = {}) {
    const which = thinkers.length
      ? ` Models on Ollama's cloud that do: ${thinkers.join(", ")}.`
      : " Pick a thinking model (list_models shows what is available).";
    super(
      `Model "${model}" does not think, so think cannot be used with it (the service said "${clause(options.serviceMessage)}"). Call it without think (or with think: false), or pick a model that thinks.${which}`,
      { ...options, status: 400 },
    );
  }
}

export class ModelNotFoundError extends UpstreamError {
  override name = "ModelNotFoundError";
  readonly model: string;
  readonly available: readonly string[];
  constructor(model: string, available: readonly string[], options: ErrorOptions = {}) {
    const service = options.service ?? CLOUD;
    const local = service.setting === "OLLAMA_HOST";
    const suggestion = available.length
      ? ` Models available there now include: ${available.join(", ")}.`
      : local
        ? ` Pull it with \`ollama pull ${model}\`, or pick one from list_models.`
        : " Run list_models or see https://ollama.com/search?c=cloud for the current list.";
    super(`Model "${model}" is not available on ${service.name}.${suggestion}`, {
      ...options,
      status: 404,
    });
    this.model = model;
    this.available = available;
  }
}

/**
 * The account cannot spend more: its credits are gone (402), or a usage limit was reached (429
 * with a message for the user). `account` says what is left and what to do, when it is known.
 */
export class UsageLimitError extends UpstreamError {
  override name = "UsageLimitError";
  readonly retryAfterSeconds: number | undefined;
  constructor(
    status: number,
    serviceMessage: string | undefined,
    retryAfterSeconds: number | undefined,
    options: ErrorOptions & { account?: string } = {},
  ) {
    const retry = retryAfterSeconds !== undefined ? ` Retry after ${retryAfterSeconds}s.` : "";
    const account =
      options.account ?? "See what is left of your credits at https://ollama.com/settings.";
    super(
      `Ollama's cloud usage limit reached (${status}): ${clause(serviceMessage) ?? "too many requests"}.${retry} ${account}`,
      { ...options, status, serviceMessage },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The plan runs a few cloud requests at once and queues the rest; this one waited for a slot
 * until the cloud gave up on it. It never ran, so it may be sent again.
 */
export class PlanSlotError extends UpstreamError {
  override name = "PlanSlotError";
  constructor(status: number, serviceMessage: string, options: ErrorOptions = {}) {
    super(
      `Ollama's cloud had no free slot for this request (${status}: ${clause(serviceMessage)}): your plan runs a limited number of cloud requests at once, and others were running. Try again when they have finished, or lower OLLAMA_UPSTREAM_CONCURRENCY to your plan's limit.`,
      { ...options, status, serviceMessage },
    );
  }
}

/** A 429 that is not a usage limit: the service asks for a pause. */
export class RateLimitedError extends UpstreamError {
  override name = "RateLimitedError";
  readonly retryAfterSeconds: number | undefined;
  constructor(
    serviceMessage: string | undefined,
    retryAfterSeconds: number | undefined,
    options: ErrorOptions = {},
  ) {
    const when =
      retryAfterSeconds !== undefined ? `retry after ${retryAfterSeconds}s` : "retry in a moment";
    const detail = clause(serviceMessage);
    const service = options.service ?? CLOUD;
    super(
      `${capitalize(service.name)} is rate limiting requests (429${detail ? `: ${detail}` : ""}); ${when}.`,
      { ...options, status: 429 },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * ollama.com answers GET /api/balance and /api/usage 10 times a minute per key. Hitting that is
 * not a usage limit: no credits were spent and every other call still goes through.
 */
export class AccountRateLimitError extends UpstreamError {
  override name = "AccountRateLimitError";
  readonly retryAfterSeconds: number | undefined;
  constructor(retryAfterSeconds: number | undefined, options: ErrorOptions = {}) {
    const when =
      retryAfterSeconds !== undefined
        ? `try again in ${retryAfterSeconds}s`
        : "try again in a minute";
    const detail = clause(options.serviceMessage);
    super(
      `ollama.com answers questions about credits and usage 10 times a minute, and that was reached (429${detail ? `: ${detail}` : ""}); ${when}. This limits only these questions: model calls and web searches go on as before.`,
      { ...options, status: 429 },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class UpstreamTimeoutError extends UpstreamError {
  override name = "UpstreamTimeoutError";
  constructor(phase: "response" | "stream", timeoutMs: number, options: ErrorOptions = {}) {
    const seconds = formatSeconds(timeoutMs);
    const service = options.service ?? CLOUD;
    super(
      phase === "response"
        ? `${capitalize(service.name)} did not start answering within ${seconds} (the limit set by OLLAMA_CLOUD_TIMEOUT_MS), so the call timed out. Try again, or raise the limit for slow models.`
        : `The answer stopped arriving: no data for ${seconds} (the limit set by OLLAMA_CLOUD_TIMEOUT_MS), so the call timed out. Try again.`,
      options,
    );
  }
}

export class UpstreamHttpError extends UpstreamError {
  override name = "UpstreamHttpError";
  constructor(
    status: number,
    statusText: string,
    serviceMessage: string | undefined,
    options: ErrorOptions = {},
  ) {
    const service = capitalize((options.service ?? CLOUD).name);
    const server = status >= 500;
    const what = server
      ? `${service} had a server error (${status} ${statusText})`
      : `${service} refused the request (${status} ${statusText})`;
    const advice = server
      ? " This is usually temporary; try again in a moment."
      : " Check the arguments of the call.";
    const detail = clause(serviceMessage);
    super(`${what}${detail ? `: ${detail}` : ""}.${advice}`, {
      ...options,
      status,
      serviceMessage,
    });
  }
}

/** A 3xx answer. Following it could carry the API key to an address the user never set. */
export class RedirectError extends UpstreamError {
  override name = "RedirectError";
  constructor(status: number, location: string | undefined, options: ErrorOptions = {}) {
    const service = options.service ?? CLOUD;
    super(
      `${capitalize(service.name)} answered with a redirect (${status})${location ? ` to ${location}` : ""}. Redirects are not followed, so that the API key only goes where you sent it: set ${service.setting} to the address the redirect points at.`,
      { ...options, status },
    );
  }
}

export class UpstreamNetworkError extends UpstreamError {
  override name = "UpstreamNetworkError";
  /** The failure's code or description, e.g. ECONNREFUSED. */
  readonly detail: string;
  constructor(host: string, detail: string, options: ErrorOptions = {}) {
    const service = options.service ?? CLOUD;
    const advice =
      service.setting === "OLLAMA_HOST"
        ? "Is Ollama running? Start the Ollama app (or `ollama serve`), or check OLLAMA_HOST."
        : "Check the network connection and OLLAMA_CLOUD_HOST, then try again.";
    const name = service.setting === "OLLAMA_HOST" ? "your local Ollama" : service.name;
    super(`Could not reach ${name} at ${host} (${detail}). ${advice}`, options);
    this.detail = detail;
  }
}

export class MalformedResponseError extends UpstreamError {
  override name = "MalformedResponseError";
  constructor(what: string, options: ErrorOptions = {}) {
    const service = options.service ?? CLOUD;
    super(
      `${capitalize(service.name)} sent a response this server could not understand (${what}). Try again; if it persists, check that ${service.setting} points at the Ollama API.`,
      options,
    );
  }
}

/** The service reported an error inside a 200 stream, or the stream ended before it was done. */
export class StreamError extends UpstreamError {
  override name = "StreamError";
  constructor(detail: string, options: ErrorOptions = {}) {
    super(`The model's response stream failed: ${clause(detail)}. Try again.`, options);
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** A service message ready to sit inside a sentence: trimmed, without trailing full stops. */
function clause(message: string | undefined): string | undefined {
  const trimmed = message?.trim().replace(/[.\s]+$/, "");
  return trimmed ? trimmed : undefined;
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
