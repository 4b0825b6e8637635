import type { Clock } from "../clock.js";
import type { Store } from "./store.js";

/** Expired entries are swept after this many writes, so memory follows what is live. */
const SWEEP_EVERY_WRITES = 256;

interface OrderedSet {
  /** Members in the order of their scores: scores are times from one clock, so adds go last. */
  members: Map<string, number>;
  expiresAt: number;
}

/** The store of one process: entries expire on the clock, events reach this process only. */
export class MemoryStore implements Store {
  readonly shared = false;
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private readonly sets = new Map<string, OrderedSet>();
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
    this.wrote();
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    // No await between the check and the write: two claims at once cannot both see it absent.
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.clock.now()) return false;
    this.entries.set(key, { value, expiresAt: this.clock.now() + ttlMs });
    this.wrote();
    return true;
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

  async addToSet(set: string, member: string, score: number, ttlMs: number): Promise<void> {
    const members = this.liveSet(set)?.members ?? new Map<string, number>();
    members.delete(member);
    members.set(member, score);
    this.sets.set(set, { members, expiresAt: this.clock.now() + ttlMs });
    this.wrote();
  }

  async removeFromSet(set: string, members: readonly string[]): Promise<void> {
    const live = this.liveSet(set);
    for (const member of members) live?.members.delete(member);
    if (live?.members.size === 0) this.sets.delete(set);
  }

  async trimSet(set: string, below: number): Promise<number> {
    const live = this.liveSet(set);
    if (!live) return 0;
    for (const [member, score] of live.members) {
      if (score >= below) break;
      live.members.delete(member);
    }
    if (live.members.size === 0) this.sets.delete(set);
    return live.members.size;
  }

  async lowestInSet(set: string, count: number): Promise<string[]> {
    return [...(this.liveSet(set)?.members.keys() ?? [])].slice(0, count);
  }

  onReconnect(): void {
    // Memory is never out of reach.
  }

  reachableForMs(): number {
    return Number.POSITIVE_INFINITY;
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.sets.clear();
    this.channels.clear();
  }

  private liveSet(set: string): OrderedSet | undefined {
    const found = this.sets.get(set);
    if (found && found.expiresAt <= this.clock.now()) {
      this.sets.delete(set);
      return undefined;
    }
    return found;
  }

  private wrote(): void {
    if (++this.writes % SWEEP_EVERY_WRITES === 0) this.sweep();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    for (const [key, set] of this.sets) if (set.expiresAt <= now) this.sets.delete(key);
  }
}
