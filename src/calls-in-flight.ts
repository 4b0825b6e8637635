/**
 * The calls a transport is answering, for stdio and HTTP alike: what shutdown waits for, and
 * what it answers once the grace period is over. Each call is held under a key of the
 * transport's choosing, with how to answer it if it is still running then.
 */
export class CallsInFlight<Key> {
  private readonly calls = new Map<Key, () => Promise<void>>();
  private idleWaiters: (() => void)[] = [];

  get size(): number {
    return this.calls.size;
  }

  /** `answer` answers the call as stopped at shutdown. */
  add(key: Key, answer: () => Promise<void>): void {
    this.calls.set(key, answer);
  }

  /** The call was answered (or its client went away). */
  delete(key: Key): void {
    if (!this.calls.delete(key) || this.calls.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no call is in flight. */
  whenNone(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Answers every call still in flight as stopped; resolves once those answers are out. */
  async answerAll(): Promise<void> {
    await Promise.all([...this.calls.values()].map((answer) => answer()));
  }
}
