import { AsyncLocalStorage } from "node:async_hooks";
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
  /** The `fetch` given, once, to the target's ollama-js client. */
  fetch: Fetch;
  /**
   * Runs one call: its hooks (signal, events, lane, a caller's key) reach every request `use`
   * makes, and a body still open when it ends is stopped, so no connection outlives its call.
   */
  call<T>(hooks: CallHooks, use: () => Promise<T>): Promise<T>;
}

/** The call a request belongs to, found by the seam's fetch however deep in ollama-js it runs. */
interface CallScope {
  hooks: CallHooks;
  /** Stops an attempt whose body is still open; each removes itself when its body ends. */
  open: Set<() => void>;
}

const callScope = new AsyncLocalStorage<CallScope>();

/** What a request's attempts share. */
interface Outgoing {
  url: string;
  endpoint: string;
  request: { method: string; headers: Headers; body: RequestInit["body"] };
  /** A second copy of it cannot run a generation twice. */
  repeatable: boolean;
  callerSignals: (AbortSignal | undefined)[];
  scope: CallScope;
  lane: string;
  sentKey: boolean;
  keySource: KeySource;
  redact: Redact;
}

type Attempt = { response: Response } | { failure: unknown; outcome: UpstreamEvent["outcome"] };

/**
 * The one seam between ollama-js and the network, built once per target. ollama-js posts web
 * search and fetch to https://ollama.com and adds process.env.OLLAMA_API_KEY for that host, so
 * every URL is re-targeted to the configured base and the Authorization header is always
 * replaced. Non-2xx answers become named errors here, before ollama-js's own error path (which
 * prints with console) can run. Retries happen only before an answer is handed over, so a stream
 * that has started is never sent twice.
 */
export function createSeam(target: UpstreamTarget, deps: SeamDeps): UpstreamSeam {
  const seamFetch = async (input: string | URL | Request, init: RequestInit = {}) => {
    const scope = callScope.getStore() ?? { hooks: {}, open: new Set() };
    return sendWithRetries(outgoing(target, deps, scope, input, init), target, deps);
  };
  return {
    fetch: seamFetch as Fetch,
    async call(hooks, use) {
      const scope: CallScope = { hooks, open: new Set() };
      try {
        return await callScope.run(scope, use);
      } finally {
        for (const stop of [...scope.open]) stop();
      }
    },
  };
}

function outgoing(
  target: UpstreamTarget,
  deps: SeamDeps,
  scope: CallScope,
  input: string | URL | Request,
  init: RequestInit,
): Outgoing {
  const { hooks } = scope;
  const callerKey = callerKeyFor(target, hooks);
  const apiKey = callerKey ?? target.apiKey;
  if (target.requiresKey && !apiKey) throw new MissingApiKeyError();
  const url = retarget(String(input instanceof Request ? input.url : input), target);
  const endpoint = new URL(url).pathname;
  const method = init.method ?? "GET";
  const headers = new Headers(init.headers);
  headers.delete("authorization");
  if (apiKey) headers.set("authorization", `Bearer ${apiKey}`);
  return {
    url,
    endpoint,
    request: { method, headers, body: init.body },
    repeatable: method === "GET" || !GENERATES.test(endpoint),
    callerSignals: [init.signal ?? undefined, hooks.signal],
    scope,
    lane: hooks.lane ?? SHARED_LANE,
    sentKey: apiKey !== undefined,
    keySource: callerKey ? "caller" : "OLLAMA_API_KEY",
    redact: redactionFor(target, deps, hooks),
  };
}

/** What takes secrets out of a call's upstream text: the server's, and the caller's own key. */
export function redactionFor(target: UpstreamTarget, deps: SeamDeps, hooks: CallHooks): Redact {
  const callerKey = callerKeyFor(target, hooks);
  return callerKey ? combine(deps.redact, redactor([callerKey])) : deps.redact;
}

/** A caller's own key goes only where a key belongs: never to a local Ollama. */
function callerKeyFor(target: UpstreamTarget, hooks: CallHooks): string | undefined {
  return target.requiresKey ? hooks.apiKey : undefined;
}

async function sendWithRetries(
  out: Outgoing,
  target: UpstreamTarget,
  deps: SeamDeps,
): Promise<Response> {
  const { clock, limiter, budget, policy } = deps;
  const { hooks } = out.scope;
  const firstStarted = clock.now();
  for (let attempt = 1; ; attempt++) {
    const attemptStarted = clock.now();
    const report = (outcome: UpstreamEvent["outcome"], retryInMs?: number) =>
      hooks.onEvent?.({
        endpoint: out.endpoint,
        attempt,
        outcome,
        ms: clock.now() - attemptStarted,
        ...(retryInMs !== undefined && { retryInMs }),
      });
    const result = await sendOnce(out, target, deps);
    if ("response" in result) {
      report(result.response.status);
      return result.response;
    }
    const { failure, outcome } = result;
    if (failure instanceof PlanSlotError) {
      // The plan runs no more than what is running now: hold this lane to that for a while.
      limiter.lower(out.lane, limiter.active(out.lane), FEWER_AFTER_SLOT_REFUSAL_MS);
    }
    const delay = isRetryable(failure, out.repeatable, hooks.waitForSlot)
      ? retryDelay(failure, attempt, policy, clock.now() - firstStarted)
      : undefined;
    const retryInMs = delay !== undefined && budget.tryRetry() ? delay : undefined;
    report(outcome, retryInMs);
    if (retryInMs === undefined) throw failure;
    const caller = linkSignals(out.callerSignals);
    try {
      await sleep(clock, retryInMs, caller.signal);
    } finally {
      caller.dispose();
    }
  }
}

/**
 * One attempt: a place from the limiter, the request, and its answer, all under one signal (the
 * caller's, or the timeout's) that stays linked until the body ends.
 */
async function sendOnce(out: Outgoing, target: UpstreamTarget, deps: SeamDeps): Promise<Attempt> {
  const { clock, policy } = deps;
  const linked = linkSignals(out.callerSignals);
  let release: () => void;
  try {
    release = await deps.limiter.acquire(out.lane, linked.signal);
  } catch (error) {
    linked.dispose();
    throw error;
  }
  deps.budget.recordRequest();
  let timedOut = false;
  const timer = clockTimer(clock, policy.timeoutMs, () => {
    timedOut = true;
    linked.abort();
  });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    out.scope.open.delete(stop);
    timer.stop();
    linked.dispose();
    release();
  };
  const stop = () => {
    linked.abort();
    end();
  };
  out.scope.open.add(stop);
  const failed = (error: unknown, midResponse: boolean) =>
    failureOf(error, midResponse, { timedOut, signal: linked.signal, target, deps });
  let response: Response;
  timer.arm();
  try {
    response = await deps.fetch(out.url, {
      ...out.request,
      signal: linked.signal,
      redirect: "manual",
    });
  } catch (error) {
    end();
    return failed(error, false);
  }
  timer.stop();
  const body = guardedBody(response.body, {
    idle: timer,
    onEnd: end,
    fail: (error) => failed(error, true).failure,
  });
  if (response.ok) return { response: answer(response, body) };
  const text = await readCapped(body);
  if (linked.signal.aborted && !timedOut) return failed(undefined, true);
  const failure = errorFromAnswer(
    { status: response.status, statusText: response.statusText, headers: response.headers, text },
    {
      service: target.service,
      sentKey: out.sentKey,
      keySource: out.keySource,
      redact: out.redact,
      now: clock.now(),
    },
  );
  return { failure, outcome: response.status };
}

/** An attempt that got no answer, or lost it mid-way: timed out, cancelled, or the network's. */
function failureOf(
  error: unknown,
  midResponse: boolean,
  at: { timedOut: boolean; signal: AbortSignal; target: UpstreamTarget; deps: SeamDeps },
): { failure: unknown; outcome: UpstreamEvent["outcome"] } {
  const { service } = at.target;
  if (at.timedOut) {
    const during = midResponse ? "stream" : "response";
    const failure = new UpstreamTimeoutError(during, at.deps.policy.timeoutMs, {
      cause: error,
      service,
    });
    return { failure, outcome: "timeout" };
  }
  if (at.signal.aborted || isAbortError(error)) {
    return { failure: abortReason(at.signal), outcome: "cancelled" };
  }
  const detail = midResponse ? "connection lost mid-response" : networkDetail(error);
  const failure = new UpstreamNetworkError(new URL(at.target.baseUrl).host, detail, {
    cause: error,
    service,
  });
  return { failure, outcome: "network-error" };
}

/** A successful answer, its body guarded; a 204 or 205 has none. */
function answer(response: Response, body: ReadableStream<Uint8Array>): Response {
  const noBody = response.status === 204 || response.status === 205;
  return new Response(noBody ? null : body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
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
