import type { Clock } from "../clock.js";
import type { Store } from "./store.js";

/** Expired entries are swept after this many writes, so memory follows what is live. */
const SWEEP_EVERY_WRITES = 256;

/** The store of one process: entries expire on the clock, events reach this process only. */
export class MemoryStore implements Store {
  readonly shared = false;
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private writes = 0;

  constructor(private readonly clock: Clock) {}

  async get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: this.clock.now() + ttlMs });
    if (++this.writes % SWEEP_EVERY_WRITES === 0) this.sweep();
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async publish(channel: string, message: string): Promise<void> {
    for (const listener of [...(this.channels.get(channel) ?? [])]) listener(message);
  }

  async subscribe(channel: string, listener: (message: string) => void) {
    let listeners = this.channels.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.channels.set(channel, listeners);
    }
    listeners.add(listener);
    return async () => {
      listeners.delete(listener);
      if (listeners.size === 0) this.channels.delete(channel);
    };
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.channels.clear();
  }

  /** Live entries, for tests. */
  size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
