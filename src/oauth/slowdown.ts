import type { Clock } from "../clock.js";
import { randomId } from "../random-id.js";
import type { Store } from "../store/store.js";

/** Refused keys an address may send before it has to wait. */
const FREE_FAILURES = 5;
/** The wait doubles with each refusal past those, from a second up to this. */
const MAX_WAIT_MS = 15 * 60_000;
/** Refusals older than this no longer count. */
const FORGET_AFTER_MS = 60 * 60_000;

/**
 * Slows down guessing keys on the sign-in form: after a few refused keys from one address (or
 * IPv6 /56), each further attempt must wait, twice as long as the one before. An attempt counts
 * as refused from before its key is checked, so a burst of keys sent at once cannot all reach
 * ollama.com before the first refusal; an accepted key takes back its own count only, never
 * earlier refusals (an attacker could sign in with their own key between guesses). Refusals an
 * hour old no longer count. Kept in the store: with Redis, every instance counts the same.
 */
export class FailureSlowdown {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * Counts an attempt from `group` as refused, before its key is checked: the attempt's handle,
   * or how long the group must still wait (and then nothing was counted).
   */
  async attempt(group: string): Promise<{ handle: string } | { waitMs: number }> {
    const key = keyOf(group);
    const now = this.clock.now();
    const handle = `${now}:${randomId("")}`;
    await this.store.addToSet(key, handle, now, FORGET_AFTER_MS);
    const counted = await this.store.trimSet(key, now - FORGET_AFTER_MS);
    const before = counted - 1;
    if (before < FREE_FAILURES) return { handle };
    // The latest refusal before this one: the wait runs from it.
    const refusals = await this.store.lowestInSet(key, counted);
    const latest = Math.max(
      ...refusals
        .filter((member) => member !== handle)
        .map((member) => Number(member.split(":")[0])),
    );
    const waitMs = Math.min(1_000 * 2 ** (before - FREE_FAILURES), MAX_WAIT_MS);
    const left = latest + waitMs - now;
    if (left <= 0) return { handle };
    await this.store.removeFromSet(key, [handle]);
    return { waitMs: left };
  }

  /** The attempt's key was accepted (or could not be checked): its count is taken back. */
  async takeBack(group: string, handle: string): Promise<void> {
    await this.store.removeFromSet(keyOf(group), [handle]);
  }
}

function keyOf(group: string): string {
  return `ocm:oauth:refused:${group}`;
}
