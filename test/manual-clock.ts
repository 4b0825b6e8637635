import type { Clock } from "../src/clock.js";
import { until } from "./harness.js";

interface Timer {
  at: number;
  fn(): void;
}

/**
 * Virtual time for tests: timers fire only when `advance` moves time past them, so retry
 * back-off, time limits and leases are tested without waiting.
 */
export class ManualClock implements Clock {
  private time: number;
  private readonly timers = new Set<Timer>();

  /** `start`: now on this clock (what code that reads the real clock too must agree with). */
  constructor(start = Date.UTC(2026, 10, 26, 12)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  schedule(ms: number, fn: () => void): () => void {
    const timer = { at: this.time + ms, fn };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  /** Moves time forward, firing every timer that is due, earliest first. */
  advance(ms: number): void {
    this.time += ms;
    const due = [...this.timers].filter((t) => t.at <= this.time).sort((a, b) => a.at - b.at);
    for (const timer of due) {
      this.timers.delete(timer);
      timer.fn();
    }
  }

  /** Waits (in real time, briefly) until a timer is set for `min` to `max` ms from now. */
  async sleeping(min: number, max = min * 2): Promise<void> {
    await until(
      () => [...this.timers].some((t) => t.at - this.time >= min && t.at - this.time <= max),
      10_000,
      `a timer of ${min}-${max} ms`,
    );
  }
}
