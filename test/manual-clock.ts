import { abortReason, type Clock } from "../src/clock.js";

interface Sleeper {
  at: number;
  resolve(): void;
}

/**
 * Virtual time for tests: sleeps end only when `advance` moves time past them, so retry
 * back-off, time limits and leases are tested without waiting.
 */
export class ManualClock implements Clock {
  private time = Date.UTC(2026, 10, 26, 12);
  private readonly sleepers = new Set<Sleeper>();

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const sleeper: Sleeper = {
        at: this.time + ms,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers.delete(sleeper);
        reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.sleepers.add(sleeper);
    });
  }

  /** Moves time forward, ending every sleep that is due, earliest first. */
  advance(ms: number): void {
    this.time += ms;
    const due = [...this.sleepers].filter((s) => s.at <= this.time).sort((a, b) => a.at - b.at);
    for (const sleeper of due) {
      this.sleepers.delete(sleeper);
      sleeper.resolve();
    }
  }

  /** Waits (in real time, briefly) until something sleeps for `min` to `max` ms from now. */
  async sleeping(min: number, max = min * 2): Promise<void> {
    for (let waited = 0; waited < 10_000; waited += 2) {
      if ([...this.sleepers].some((s) => s.at - this.time >= min && s.at - this.time <= max))
        return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    throw new Error(`nothing slept for ${min}-${max} ms within 10 s`);
  }
}
