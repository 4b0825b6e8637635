import { type Clock, withDeadline } from "../clock.js";
import type { OpsLogger } from "../observability.js";
import { type Store, StoreUnavailableError } from "./store.js";

/** How long the first connection may take at start, before the server gives up (exit 2). */
const CONNECT_TIMEOUT_MS = 5_000;
/** Reconnect back-off after Redis went away: doubling from 100 ms, at most 5 s. */
const reconnectDelay = (retries: number) => Math.min(100 * 2 ** retries, 5_000);

/** The part of the redis client this store uses. */
interface RedisClient {
  connect(): Promise<unknown>;
  ping(): Promise<unknown>;
  get(key: string): Promise<string | null>;
  set(
    key: string,
    value: string,
    options: { condition?: "NX"; expiration: { type: "PX"; value: number } },
  ): Promise<string | null>;
  del(key: string): Promise<unknown>;
  zAdd(key: string, member: { score: number; value: string }): Promise<unknown>;
  zRem(key: string, members: string[]): Promise<unknown>;
  zRemRangeByScore(key: string, min: string, max: string): Promise<unknown>;
  zCard(key: string): Promise<number>;
  zRange(key: string, start: number, stop: number): Promise<string[]>;
  pExpire(key: string, ms: number): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<void>;
  duplicate(): RedisClient;
  on(event: string, listener: (...args: never[]) => void): unknown;
  close(): Promise<void>;
  destroy(): void;
}

/** Redis 6+ or Valkey, shared by every instance: jobs and their events are seen by all. */
export class RedisStore implements Store {
  readonly shared = true;
  private readonly reconnectListeners: (() => void)[] = [];
  /**
   * Since when the client has been connected again after its last outage: never broken since
   * the start counts as always; undefined while it is not connected.
   */
  private readySince: number | undefined = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly where: string,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Connects (the client library is loaded only now, so nobody else pays for it). Rejects with
   * a message for the user when Redis cannot be reached or refuses the credentials.
   */
  static async open(
    url: string,
    log: OpsLogger,
    clock: Clock,
    timeoutMs = 3_000,
  ): Promise<RedisStore> {
    const { createClient } = await import("redis");
    const where = describe(url);
    let connected = false;
    let unreachable = false;
    const client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: CONNECT_TIMEOUT_MS,
        // At start a failure is final (the server exits 2); later, Redis is waited for.
        reconnectStrategy: (retries: number, cause: Error) =>
          connected ? reconnectDelay(retries) : cause,
      },
    }) as unknown as RedisClient;
    let store: RedisStore | undefined;
    const lost = (error?: Error) => {
      if (!connected || !store) return;
      store.readySince = undefined;
      if (unreachable) return;
      unreachable = true;
      log.log("warning", `the job store (Redis at ${where}) cannot be reached; retrying`, {
        error: error ? errorCode(error) : "disconnected",
      });
    };
    client.on("error", (error: Error) => lost(error));
    client.on("reconnecting", () => lost());
    client.on("ready", () => {
      if (!store || store.readySince !== undefined) return;
      store.readySince = clock.now();
      if (unreachable) log.log("info", `the job store (Redis at ${where}) is back`);
      unreachable = false;
      for (const listener of store.reconnectListeners) listener();
    });
    let subscriber: RedisClient | undefined;
    try {
      await client.connect();
      await client.ping();
      subscriber = client.duplicate();
      subscriber.on("error", () => {});
      await subscriber.connect();
      connected = true;
    } catch (error) {
      client.destroy();
      subscriber?.destroy();
      throw new StoreUnavailableError(
        `cannot use the job store at ${where} (OLLAMA_MCP_STORE): ${reason(error)}`,
      );
    }
    store = new RedisStore(client, subscriber, where, clock, timeoutMs);
    return store;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.guard(() => this.client.get(key))) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.guard(() =>
      this.client.set(key, value, {
        expiration: { type: "PX", value: Math.max(1, Math.round(ttlMs)) },
      }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.guard(() => this.client.del(key));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const reply = await this.guard(() =>
      this.client.set(key, value, {
        condition: "NX",
        expiration: { type: "PX", value: Math.max(1, Math.round(ttlMs)) },
      }),
    );
    return reply === "OK";
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.guard(() => this.client.publish(channel, message));
  }

  async subscribe(channel: string, listener: (message: string) => void) {
    const onMessage = (message: string) => listener(message);
    await this.guard(() => this.subscriber.subscribe(channel, onMessage));
    return async () => {
      await this.subscriber.unsubscribe(channel, onMessage).catch(() => {});
    };
  }

  async addToSet(set: string, member: string, score: number, ttlMs: number): Promise<void> {
    await this.guard(async () => {
      await this.client.zAdd(set, { score, value: member });
      await this.client.pExpire(set, Math.max(1, Math.round(ttlMs)));
    });
  }

  async removeFromSet(set: string, members: readonly string[]): Promise<void> {
    if (members.length === 0) return;
    await this.guard(() => this.client.zRem(set, [...members]));
  }

  async trimSet(set: string, below: number): Promise<number> {
    return this.guard(async () => {
      await this.client.zRemRangeByScore(set, "-inf", `(${below}`);
      return this.client.zCard(set);
    });
  }

  async lowestInSet(set: string, count: number): Promise<string[]> {
    if (count <= 0) return [];
    return this.guard(() => this.client.zRange(set, 0, count - 1));
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  reachableForMs(): number {
    return this.readySince === undefined ? 0 : this.clock.now() - this.readySince;
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.subscriber.close()]).catch(() => {
      this.client.destroy();
      this.subscriber.destroy();
    });
  }

  /**
   * A command within OLLAMA_MCP_STORE_TIMEOUT_MS: a Redis that hangs (stopped, or its host
   * unreachable without a reset) is answered like one that is gone, at once after that.
   */
  private async guard<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await withDeadline(this.clock, this.timeoutMs, command(), () => {
        throw new StoreTimeout(
          `no answer within ${this.timeoutMs} ms (OLLAMA_MCP_STORE_TIMEOUT_MS)`,
        );
      });
    } catch (error) {
      throw new StoreUnavailableError(
        `The job store (Redis at ${this.where}) cannot be reached right now (${reason(error)}). Calls that need it fail until it is back; nothing else is affected.`,
        { cause: error },
      );
    }
  }
}

/** A command Redis did not answer in time. */
class StoreTimeout extends Error {
  override name = "StoreTimeout";
}

/** host:port of a Redis URL: never its password. */
function describe(url: string): string {
  try {
    const { hostname, port, protocol } = new URL(url);
    return `${hostname}:${port || "6379"}${protocol === "rediss:" ? " (TLS)" : ""}`;
  } catch {
    return "the configured URL";
  }
}

/** The system error code behind a failure; the client wraps socket errors in its own. */
function errorCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    const inner = current as { originalError?: unknown; socketError?: unknown; cause?: unknown };
    current = inner.originalError ?? inner.socketError ?? inner.cause;
  }
  return (error as Error)?.name ?? "error";
}

/** Why Redis failed, in words that carry no secret. */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/WRONGPASS|NOAUTH|invalid username-password/i.test(message)) {
    return "it refused the credentials in the URL";
  }
  const code = errorCode(error);
  if (/^E[A-Z]+$/.test(code)) return `connection failed: ${code}`;
  if (/offline|closed/i.test(message)) return "not connected";
  if (error instanceof StoreTimeout) return error.message;
  return "it did not answer as Redis does";
}
