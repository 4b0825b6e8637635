import { abortReason } from "../clock.js";

interface Lane {
  active: number;
  /** Requests waiting in this lane, in arrival order. */
  queue: (() => void)[];
  /** A lower limit for a while, after the plan behind this lane refused requests. */
  lowered?: { limit: number; until: number };
}

/**
 * At most `perLane` upstream requests at once per lane (one lane for the server's own account;
 * one per caller when callers bring their own keys), and at most `total` for all lanes together.
 * Beyond either, requests wait: in arrival order within a lane, and lanes take turns for a free
 * slot, so one busy caller cannot keep the others waiting. A request whose call is cancelled
 * leaves the line at once.
 */
export class Limiter {
  private readonly lanes = new Map<string, Lane>();
  /** Lanes with requests waiting, in the order they get their next turn. */
  private readonly turns = new Set<string>();
  private running = 0;

  constructor(
    /** The clock's time: how long a lowered limit lasts. */
    private readonly now: () => number,
    private readonly perLane: number,
    private readonly total: number = Number.POSITIVE_INFINITY,
  ) {}

  /** Lets `key` run at most `limit` (at least 1) requests at once until `forMs` has passed. */
  lower(key: string, limit: number, forMs: number): void {
    for (const [other, lane] of this.lanes) this.forgetIfIdle(other, lane);
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { active: 0, queue: [] };
      this.lanes.set(key, lane);
    }
    lane.lowered = { limit: Math.max(1, limit), until: this.now() + forMs };
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { active: 0, queue: [] };
      this.lanes.set(key, lane);
    }
    const held = lane;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      held.active--;
      this.running--;
      this.dispatch();
      this.forgetIfIdle(key, held);
    };
    if (held.queue.length === 0 && held.active < this.limitOf(held) && this.running < this.total) {
      held.active++;
      this.running++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const start = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(release);
      };
      const onAbort = () => {
        const index = held.queue.indexOf(start);
        if (index >= 0) held.queue.splice(index, 1);
        if (held.queue.length === 0) this.turns.delete(key);
        this.forgetIfIdle(key, held);
        reject(abortReason(signal as AbortSignal));
      };
      held.queue.push(start);
      this.turns.add(key);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Requests running now under `key`, for tests and health checks. */
  active(key: string): number {
    return this.lanes.get(key)?.active ?? 0;
  }

  /** Hands free slots to waiting lanes in turn: each lane served goes to the back. */
  private dispatch(): void {
    while (this.running < this.total) {
      let served = false;
      for (const key of this.turns) {
        const lane = this.lanes.get(key);
        if (!lane || lane.active >= this.limitOf(lane)) continue;
        const next = lane.queue.shift();
        this.turns.delete(key);
        if (!next) continue;
        if (lane.queue.length > 0) this.turns.add(key);
        lane.active++;
        this.running++;
        next();
        served = true;
        break;
      }
      if (!served) return;
    }
  }

  private limitOf(lane: Lane): number {
    if (lane.lowered && lane.lowered.until > this.now()) return lane.lowered.limit;
    lane.lowered = undefined;
    return this.perLane;
  }

  private forgetIfIdle(key: string, lane: Lane): void {
    // A lowered lane is kept until its time is up, so its limit is not forgotten with it.
    if (lane.lowered && lane.lowered.until > this.now()) return;
    if (lane.active === 0 && lane.queue.length === 0 && this.lanes.get(key) === lane) {
      this.lanes.delete(key);
    }
  }
}
