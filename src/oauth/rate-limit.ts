import type { Clock } from "../clock.js";
import { randomId } from "../random-id.js";
import type { Store } from "../store/store.js";

/**
 * At most `max` requests per `windowMs` from one address group, over a sliding window kept in
 * the store: with Redis, every instance behind a load balancer counts the same requests.
 */
export class WindowLimit {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly name: string,
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one request from `group`; how many seconds it must wait, or 0 if it may go on. */
  async take(group: string): Promise<number> {
    const key = `ocm:oauth:limit:${this.name}:${group}`;
    const now = this.clock.now();
    await this.store.addToSet(key, `${now}:${randomId("")}`, now, this.windowMs);
    const count = await this.store.trimSet(key, now - this.windowMs);
    if (count <= this.max) return 0;
    // The window frees a place when its oldest request leaves it.
    const [oldest] = await this.store.lowestInSet(key, 1);
    const since = Number(oldest?.split(":")[0] ?? now);
    return Math.max(1, Math.ceil((since + this.windowMs - now) / 1000));
  }
}
