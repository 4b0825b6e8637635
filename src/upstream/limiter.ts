import { abortReason } from "../clock.js";

/**
 * At most `limit` upstream requests at once per key (one key for the server's own account; one
 * per caller when callers bring their own keys). Beyond it requests queue in arrival order.
 */
export class Limiter {
  private readonly lanes = new Map<string, { active: number; queue: (() => void)[] }>();

  constructor(private readonly limit: number) {}

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
      const next = held.queue.shift();
      if (next) next();
      else if (held.active === 0) this.lanes.delete(key);
    };
    if (held.active < this.limit) {
      held.active++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const start = () => {
        signal?.removeEventListener("abort", onAbort);
        held.active++;
        resolve(release);
      };
      const onAbort = () => {
        const index = held.queue.indexOf(start);
        if (index >= 0) held.queue.splice(index, 1);
        reject(abortReason(signal as AbortSignal));
      };
      held.queue.push(start);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Requests running now under `key`, for tests and health checks. */
  active(key: string): number {
    return this.lanes.get(key)?.active ?? 0;
  }
}
