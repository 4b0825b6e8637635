import type { Clock } from "../clock.js";
import { isConnectionReset } from "./error-mapping.js";
import { PlanSlotError, RateLimitedError, UpstreamHttpError } from "./errors.js";

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
  retryWindowMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  timeoutMs: 120_000,
  retries: 2,
  backoffMs: 250,
  maxRetryAfterMs: 10_000,
  retryWindowMs: 30_000,
};

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * Whether a failed attempt may be sent again. An answer of 502/503/504 or a 429 means the
 * request was not served. A connection that broke after it was made may have delivered the
 * request, so it is repeated only when `repeatable` (a read: a second copy runs no generation).
 */
export function isRetryable(failure: unknown, repeatable: boolean, waitForSlot = false): boolean {
  // Refused for want of a plan slot, it never ran: sent again by the calls that wait for one.
  if (failure instanceof PlanSlotError) return waitForSlot;
  if (failure instanceof RateLimitedError) return true;
  if (failure instanceof UpstreamHttpError) return RETRYABLE_STATUS.has(failure.status ?? 0);
  return repeatable && isConnectionReset(failure);
}

/** Milliseconds to wait before attempt `attempt + 1`, or undefined when this failure is final. */
export function retryDelay(
  failure: unknown,
  attempt: number,
  policy: RetryPolicy,
  elapsedMs: number,
  random: () => number = Math.random,
): number | undefined {
  if (failure instanceof PlanSlotError) {
    // The wait for the slot itself is in the limiter; a refusal is tried again only while the
    // call would still wait for an answer to start.
    const delay = random() * policy.backoffMs;
    return elapsedMs + delay < policy.timeoutMs ? Math.round(delay) : undefined;
  }
  if (attempt > policy.retries) return undefined;
  let delay: number;
  if (failure instanceof RateLimitedError) {
    // Only a short, explicit pause is waited out; anything else goes back to the caller.
    if (failure.retryAfterSeconds === undefined) return undefined;
    delay = failure.retryAfterSeconds * 1000;
    if (delay > policy.maxRetryAfterMs) return undefined;
    delay += random() * policy.backoffMs;
  } else {
    delay = random() * policy.backoffMs * 2 ** (attempt - 1);
  }
  if (elapsedMs + delay > policy.retryWindowMs) return undefined;
  return Math.round(delay);
}

const WINDOW_SECONDS = 10;
/** Retries allowed in any window however few requests there were, so a lone call still retries. */
const MIN_RETRIES_PER_WINDOW = 5;

/**
 * Retries may be at most `ratio` of the requests of the last ten seconds (plus a small floor),
 * so an outage meets a few more requests, not three times as many.
 */
export class RetryBudget {
  private readonly buckets: { second: number; requests: number; retries: number }[] = [];

  constructor(
    private readonly ratio: number,
    private readonly clock: Clock,
  ) {}

  recordRequest(): void {
    this.bucket().requests++;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    const current = this.bucket();
    let requests = 0;
    let retries = 0;
    for (const b of this.buckets) {
      requests += b.requests;
      retries += b.retries;
    }
    if (retries >= Math.max(MIN_RETRIES_PER_WINDOW, this.ratio * requests)) return false;
    current.retries++;
    return true;
  }

  private bucket() {
    const second = Math.floor(this.clock.now() / 1000);
    while (this.buckets.length && (this.buckets[0]?.second ?? 0) <= second - WINDOW_SECONDS) {
      this.buckets.shift();
    }
    let last = this.buckets.at(-1);
    if (last?.second !== second) {
      last = { second, requests: 0, retries: 0 };
      this.buckets.push(last);
    }
    return last;
  }
}
