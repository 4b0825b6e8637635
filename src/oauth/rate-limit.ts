import type { Clock } from "../clock.js";

/** Groups remembered at most per limit; the one seen longest ago is forgotten first. */
const MAX_GROUPS = 10_000;

/**
 * At most `max` requests per `windowMs` from one address group, counted in fixed windows on
 * the clock. Kept per instance, in memory.
 */
export class WindowLimit {
  /** In order of the window's start, oldest first. */
  private readonly byGroup = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one request from `group`; how many seconds it must wait, or 0 if it may go on. */
  take(group: string): number {
    const now = this.clock.now();
    let entry = this.byGroup.get(group);
    if (!entry || now - entry.start >= this.windowMs) {
      this.byGroup.delete(group);
      entry = { start: now, count: 0 };
      this.byGroup.set(group, entry);
      for (const oldest of this.byGroup.keys()) {
        if (this.byGroup.size <= MAX_GROUPS) break;
        this.byGroup.delete(oldest);
      }
    }
    entry.count++;
    return entry.count > this.max ? Math.ceil((entry.start + this.windowMs - now) / 1000) : 0;
  }
}
