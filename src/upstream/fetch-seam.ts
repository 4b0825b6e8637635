import { abortReason, type Clock, clockTimer, sleep } from "../clock.js";
import { combine, type Redact, redactor } from "../redact.js";
import { errorFromAnswer, type KeySource, networkDetail } from "./error-mapping.js";
import {
  MissingApiKeyError,
  PlanSlotError,
  type Service,
  UpstreamNetworkError,
  UpstreamTimeoutError,
} from "./errors.js";
import type { Limiter } from "./limiter.js";
import { wellFormedNdjson } from "./ndjson.js";
import { isRetryable, type RetryBudget, type RetryPolicy, retryDelay } from "./retry.js";
import { isAbortError, linkSignals } from "./signals.js";

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

/** What every call's seam shares: built once per upstream. */
export interface SeamDeps {
  policy: RetryPolicy;
  clock: Clock;
  /** The platform fetch, unless a test gives another. */
  fetch: Fetch;
  limiter: Limiter;
  budget: RetryBudget;
  /** Removes the server's own secrets from upstream text. */
  redact: Redact;
}

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
  /** The caller's own Ollama key, sent instead of the server's for this call only. */
  apiKey?: string | undefined;
  /** Whose share of the upstream concurrency cap this call uses. */
  lane?: string | undefined;
  /**
   * A request the plan refuses for want of a slot is sent again once this lane's other requests
   * have finished (consensus and search_and_summarize, whose own requests compete for slots).
   */
  waitForSlot?: boolean | undefined;
}

export const SHARED_LANE = "server";
const MAX_ERROR_BODY_BYTES = 8_192;
/** After a plan refused a request for want of a slot, its lane runs fewer at once this long. */
const FEWER_AFTER_SLOT_REFUSAL_MS = 60_000;
/** Calls that create a generation: a second copy of one could run it twice. */
const GENERATES = /\/api\/(chat|generate)$/;

export interface UpstreamSeam {
  /** The `fetch` given to ollama-js for one call. */
  fetch: Fetch;
  /** Stops reading any body still open: a call that ended must not hold a connection. */
  close(): void;
}

/**
 * The one seam between ollama-js and the network, built per call. ollama-js posts web search
 * and fetch to https://ollama.com and adds process.env.OLLAMA_API_KEY for that host, so every
 * URL is re-targeted to the configured base and the Authorization header is always replaced.
 * Non-2xx answers become named errors here, before ollama-js's own error path (which prints with
 * console) can run. Retries happen only before an answer is handed over, so a stream that has
 * started is never sent twice.
 */
export function createSeam(
  target: UpstreamTarget,
  deps: SeamDeps,
  hooks: CallHooks = {},
): UpstreamSeam {
  const { policy, clock, limiter, budget } = deps;
  const host = new URL(target.baseUrl).host;
  // A caller's own key goes only where a key belongs: never to a local Ollama.
  const callerKey = target.requiresKey ? hooks.apiKey : undefined;
  const apiKey = callerKey ?? target.apiKey;
  const keySource: KeySource = callerKey ? "caller" : "OLLAMA_API_KEY";
  const redact = callerKey ? combine(deps.redact, redactor([callerKey])) : deps.redact;
  const lane = hooks.lane ?? SHARED_LANE;
  /** Stops an attempt whose body is still open; each removes itself when its body ends. */
  const openAttempts = new Set<() => void>();

  const seamFetch = async (input: string | URL | Request, init: RequestInit = {}) => {
    if (target.requiresKey && !apiKey) throw new MissingApiKeyError();
    const url = retarget(String(input instanceof Request ? input.url : input), target);
    const endpoint = new URL(url).pathname;
    const method = init.method ?? "GET";
    const headers = new Headers(init.headers);
    headers.delete("authorization");
    if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);
    const repeatable = method === "GET" || !GENERATES.test(endpoint);
    const callerSignals = [init.signal ?? undefined, hooks.signal];
    const firstStarted = clock.now();
    for (let attempt = 1; ; attempt++) {
      const attemptStarted = clock.now();
      const report = (outcome: UpstreamEvent["outcome"], retryInMs?: number) =>
        hooks.onEvent?.({
          endpoint,
          attempt,
          outcome,
          ms: clock.now() - attemptStarted,
          ...(retryInMs !== undefined && { retryInMs }),
        });
      const result = await sendOnce(url, { method, headers, body: init.body }, callerSignals);
      if ("response" in result) {
        report(result.response.status);
        return result.response;
      }
      const { failure, outcome } = result;
      if (failure instanceof PlanSlotError) {
        // The plan runs no more than what is running now: hold this lane to that for a while.
        limiter.lower(lane, limiter.active(lane), FEWER_AFTER_SLOT_REFUSAL_MS);
      }
      const delay = isRetryable(failure, repeatable, hooks.waitForSlot)
        ? retryDelay(failure, attempt, policy, clock.now() - firstStarted)
        : undefined;
      const retryInMs = delay !== undefined && budget.tryRetry() ? delay : undefined;
      report(outcome, retryInMs);
      if (retryInMs === undefined) throw failure;
      const caller = linkSignals(callerSignals);
      try {
        await sleep(clock, retryInMs, caller.signal);
      } finally {
        caller.dispose();
      }
    }
  };

  type Attempt = { response: Response } | { failure: unknown; outcome: UpstreamEvent["outcome"] };

  async function sendOnce(
    url: string,
    request: { method: string; headers: Headers; body: RequestInit["body"] },
    callerSignals: (AbortSignal | undefined)[],
  ): Promise<Attempt> {
    // One signal for the request and its body: the caller's signals, or the timeout. It stays
    // linked until the body ends.
    const linked = linkSignals(callerSignals);
    let release: () => void;
    try {
      release = await limiter.acquire(lane, linked.signal);
    } catch (error) {
      linked.dispose();
      throw error;
    }
    budget.recordRequest();
    let timedOut = false;
    const timer = clockTimer(clock, policy.timeoutMs, () => {
      timedOut = true;
      linked.abort();
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      openAttempts.delete(stop);
      timer.stop();
      linked.dispose();
      release();
    };
    const stop = () => {
      linked.abort();
      end();
    };
    openAttempts.add(stop);
    const cancelled = () => ({
      failure: abortReason(linked.signal),
      outcome: "cancelled" as const,
    });
    let response: Response;
    timer.arm();
    try {
      response = await deps.fetch(url, { ...request, signal: linked.signal, redirect: "manual" });
    } catch (error) {
      end();
      if (timedOut) {
        const failure = new UpstreamTimeoutError("response", policy.timeoutMs, {
          cause: error,
          service: target.service,
        });
        return { failure, outcome: "timeout" };
      }
      if (linked.signal.aborted || isAbortError(error)) return cancelled();
      const failure = new UpstreamNetworkError(host, networkDetail(error), {
        cause: error,
        service: target.service,
      });
      return { failure, outcome: "network-error" };
    }
    timer.stop();
    const body = guardedBody(response.body, {
      idle: timer,
      onEnd: end,
      fail: (error) => {
        if (timedOut) {
          return new UpstreamTimeoutError("stream", policy.timeoutMs, {
            cause: error,
            service: target.service,
          });
        }
        if (linked.signal.aborted || isAbortError(error)) return abortReason(linked.signal);
        return new UpstreamNetworkError(host, "connection lost mid-response", {
          cause: error,
          service: target.service,
        });
      },
    });
    if (response.ok) {
      // A generation is read line by line by ollama-js whatever its content type says.
      const lines =
        GENERATES.test(new URL(url).pathname) ||
        /ndjson/i.test(response.headers.get("content-type") ?? "");
      const readable = lines ? body.pipeThrough(wellFormedNdjson(redact)) : body;
      const noBody = response.status === 204 || response.status === 205;
      return {
        response: new Response(noBody ? null : readable, {
          status: response.status,
          statusText: response.statusText,
          headers: response.headers,
        }),
      };
    }
    const text = await readCapped(body);
    if (linked.signal.aborted && !timedOut) return cancelled();
    const failure = errorFromAnswer(
      { status: response.status, statusText: response.statusText, headers: response.headers, text },
      {
        service: target.service,
        sentKey: apiKey !== undefined,
        keySource,
        redact,
        now: clock.now(),
      },
    );
    return { failure, outcome: response.status };
  }

  return {
    fetch: seamFetch as Fetch,
    close() {
      for (const stop of [...openAttempts]) stop();
    },
  };
}

/** Keeps the `/api/...` path and query of a URL ollama-js built, on the target's base. */
export function retarget(url: string, target: Pick<UpstreamTarget, "baseUrl" | "paths">): string {
  const parsed = new URL(url);
  const apiAt = parsed.pathname.lastIndexOf("/api/");
  const path = apiAt >= 0 ? parsed.pathname.slice(apiAt) : parsed.pathname;
  return `${target.baseUrl}${target.paths?.[path] ?? path}${parsed.search}`;
}

interface BodyGuard {
  /** The request's timer, re-armed for the wait of each chunk; firing it aborts the request. */
  idle: { arm(): void; stop(): void };
  /** Called once when the body ends, fails or is cancelled: releases the request's resources. */
  onEnd(): void;
  /** Turns a read failure into the error the reader sees. */
  fail(error: unknown): unknown;
}

/**
 * The body of an answer, chunk by chunk. Bounds the wait for each chunk (a stream that keeps
 * flowing is never cut), and releases the request when the body ends or its reader stops.
 */
function guardedBody(
  source: ReadableStream<Uint8Array> | null,
  guard: BodyGuard,
): ReadableStream<Uint8Array> {
  const reader = source?.getReader();
  const { idle } = guard;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    idle.stop();
    guard.onEnd();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!reader) {
        end();
        return controller.close();
      }
      idle.arm();
      try {
        const { done, value } = await reader.read();
        idle.stop();
        if (done) {
          end();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        end();
        controller.error(guard.fail(error));
      }
    },
    async cancel(reason) {
      end();
      await reader?.cancel(reason).catch(() => {});
    },
  });
}

/** The start of an error body; an error page that stalls or breaks yields what arrived. */
async function readCapped(body: ReadableStream<Uint8Array>): Promise<string> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let bytes = 0;
  try {
    while (bytes < MAX_ERROR_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      bytes += value.length;
    }
  } catch {
    // The status alone still says what went wrong.
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(parts).subarray(0, MAX_ERROR_BODY_BYTES).toString("utf8");
}
