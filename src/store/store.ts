import type * as z from "zod";
import { ConfigError } from "../setting.js";

/**
 * Where state shared across calls lives: jobs and their results, conversations. In memory by
 * default; Redis when several instances must see the same state. Values are JSON text; every
 * key expires. Channels carry events between instances (a job's progress, its end, a cancel).
 */
export interface Store {
  /** Whether other instances see this store: jobs then outlive this process's calls. */
  readonly shared: boolean;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Sets `key` only if it is absent, atomically across instances (SET NX): true if this call set
   * it. What is used once (a sign-in code, a refresh token) is claimed this way.
   */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; the returned function ends it. */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  /**
   * Adds (or moves) `member` in an ordered set (a Redis sorted set) at `score`; the set expires
   * `ttlMs` after its last add. Scores are times, so the lowest is the least recently used.
   */
  addToSet(set: string, member: string, score: number, ttlMs: number): Promise<void>;
  removeFromSet(set: string, members: readonly string[]): Promise<void>;
  /** Removes the members scored below `score`, and says how many are left. */
  trimSet(set: string, below: number): Promise<number>;
  /** The `count` lowest-scored members, lowest first. */
  lowestInSet(set: string, count: number): Promise<string[]>;
  /** Calls `listener` each time the store can be reached again after an outage. */
  onReconnect(listener: () => void): void;
  /** How long the store has been reachable without a break (Infinity if it cannot break). */
  reachableForMs(): number;
  close(): Promise<void>;
}

/** A stored value read back: undefined when it is absent, not JSON, or not of the schema. */
export function readStored<T>(schema: z.ZodType<T>, raw: string | undefined): T | undefined {
  if (raw === undefined) return undefined;
  try {
    const result = schema.safeParse(JSON.parse(raw));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** A store that cannot be reached: calls that need it fail with a message naming it. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

/** Where OLLAMA_MCP_STORE points: this process's memory, or a Redis server. */
export type StoreSetting = { kind: "memory" } | { kind: "redis"; url: string };

/** OLLAMA_MCP_STORE: "memory", or a Redis URL. A refused value is never echoed whole: it may hold a password. */
export function parseStoreSetting(value: string | undefined, name: string): StoreSetting {
  const setting = value ?? "";
  if (setting.toLowerCase() === "memory") return { kind: "memory" };
  let url: URL | undefined;
  try {
    url = new URL(setting);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname) {
    return { kind: "redis", url: setting };
  }
  const got = url
    ? `a ${url.protocol}// URL`
    : setting.includes("@")
      ? "something else"
      : `"${setting}"`;
  throw new ConfigError(
    `${name} must be memory, or a redis:// or rediss:// URL such as redis://127.0.0.1:6379; got ${got}.`,
  );
}
