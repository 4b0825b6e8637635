/**
 * Where state shared across calls lives: finished jobs, conversations. In memory by default;
 * Redis when several instances must see the same state. Values are JSON text; every key
 * expires. Channels carry events between instances (a job's progress, its end, a cancel).
 */
export interface Store {
  /** Whether other instances see this store: jobs then outlive this process's calls. */
  readonly shared: boolean;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; the returned function ends it. */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A store that cannot be reached: calls that need it fail with a message naming it. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

/** Where OLLAMA_MCP_STORE points: this process's memory, or a Redis server. */
export type StoreSetting = { kind: "memory" } | { kind: "redis"; url: string };
