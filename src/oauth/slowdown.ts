import type { Clock } from "../clock.js";

/** Refused keys an address may send before it has to wait. */
const FREE_FAILURES = 5;
/** The wait doubles with each refusal past those, from a second up to this. */
const MAX_WAIT_MS = 15 * 60_000;
/** An address with no refusal for this long starts afresh. */
const FORGET_AFTER_MS = 60 * 60_000;
/** Addresses remembered at most; the one refused longest ago is forgotten first. */
const MAX_ADDRESSES = 10_000;

/**
 * Slows down guessing keys on the sign-in form: after a few refused keys from one address (or
 * IPv6 /56), each further attempt must wait, twice as long as the one before. An attempt counts
 * as refused from before its key is checked, so a burst of keys sent at once cannot all reach
 * ollama.com before the first refusal; an accepted key takes back its own count only, never
 * earlier refusals (an attacker could sign in with their own key between guesses). An hour
 * without a refusal wipes the count. Kept per instance, in memory.
 */
export class FailureSlowdown {
  /** In order of the last refusal, oldest first. */
  private readonly byAddress = new Map<string, { failures: number; last: number }>();

  constructor(private readonly clock: Clock) {}

  /** How long `address` must still wait before its next attempt is checked; 0: it may try. */
  waitMs(address: string): number {
    const entry = this.live(address);
    if (!entry || entry.failures < FREE_FAILURES) return 0;
    const wait = Math.min(1_000 * 2 ** (entry.failures - FREE_FAILURES), MAX_WAIT_MS);
    return Math.max(0, entry.last + wait - this.clock.now());
  }

  /** Counts an attempt as refused before its key is checked. */
  attempt(address: string): void {
    const failures = (this.live(address)?.failures ?? 0) + 1;
    this.byAddress.delete(address);
    this.byAddress.set(address, { failures, last: this.clock.now() });
    for (const oldest of this.byAddress.keys()) {
      if (this.byAddress.size <= MAX_ADDRESSES) break;
      this.byAddress.delete(oldest);
    }
  }

  /** The attempt's key was accepted: its count is taken back. */
  accepted(address: string): void {
    const entry = this.live(address);
    if (entry && entry.failures > 0) entry.failures--;
  }

  private live(address: string) {
    const entry = this.byAddress.get(address);
    if (entry && this.clock.now() - entry.last >= FORGET_AFTER_MS) {
      this.byAddress.delete(address);
      return undefined;
    }
    return entry;
  }
}
