import type { CallToolResult } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config.js";
import { Jobs, jobsConfig } from "../src/jobs/jobs.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { type Store, StoreUnavailableError } from "../src/store/store.js";
import { textOf, until, useServers } from "./harness.js";
import { ManualClock } from "./manual-clock.js";

const t = useServers();

const DEFER_MS = 1_000;
const LEASE_MS = 3_000;
const TTL_MS = 60_000;

/**
 * A shared store that can go away, as Redis does: while down, every command fails; it can come
 * back with its data, or empty (a restart without persistence). Events survive a restart, as a
 * Redis client's subscriptions do when it reconnects.
 */
class BlinkingStore implements Store {
  readonly shared = true;
  down = false;
  /** Writes this returns true for fail, as a full Redis refuses them. */
  refuse: ((key: string, value: string) => boolean) | undefined;
  private data: MemoryStore;
  private readonly events: MemoryStore;
  private readonly listeners: (() => void)[] = [];
  private upSince: number;

  constructor(private readonly clock: ManualClock) {
    this.data = new MemoryStore(clock);
    this.events = new MemoryStore(clock);
    this.upSince = clock.now();
  }

  goDown(): void {
    this.down = true;
  }

  /** Up again; `tellClients: false` holds back the reconnect, as a client's back-off would. */
  comeBack(options: { empty?: boolean; tellClients?: boolean } = {}): void {
    if (options.empty) this.data = new MemoryStore(this.clock);
    this.down = false;
    this.upSince = this.clock.now();
    if (options.tellClients !== false) this.reconnected();
  }

  reconnected(): void {
    for (const listener of this.listeners) listener();
  }

  private check(): void {
    if (this.down) throw new StoreUnavailableError("The job store cannot be reached right now.");
  }

  async get(key: string) {
    this.check();
    return this.data.get(key);
  }
  async set(key: string, value: string, ttlMs: number) {
    this.check();
    if (this.refuse?.(key, value)) throw new StoreUnavailableError("OOM: the store is full");
    return this.data.set(key, value, ttlMs);
  }
  async delete(key: string) {
    this.check();
    return this.data.delete(key);
  }
  async setIfAbsent(key: string, value: string, ttlMs: number) {
    this.check();
    return this.data.setIfAbsent(key, value, ttlMs);
  }
  async publish(channel: string, message: string) {
    this.check();
    return this.events.publish(channel, message);
  }
  async subscribe(channel: string, listener: (message: string) => void) {
    this.check();
    return this.events.subscribe(channel, listener);
  }
  async addToSet(set: string, member: string, score: number, ttlMs: number) {
    this.check();
    return this.data.addToSet(set, member, score, ttlMs);
  }
  async removeFromSet(set: string, members: readonly string[]) {
    this.check();
    return this.data.removeFromSet(set, members);
  }
  async trimSet(set: string, below: number) {
    this.check();
    return this.data.trimSet(set, below);
  }
  async lowestInSet(set: string, count: number) {
    this.check();
    return this.data.lowestInSet(set, count);
  }
  onReconnect(listener: () => void): void {
    this.listeners.push(listener);
  }
  reachableForMs(): number {
    return this.down ? 0 : this.clock.now() - this.upSince;
  }
  async close() {}
}

/** Two instances (A runs the job, B is another) on one blinking store, and a client of each. */
async function twoInstances() {
  const clock = new ManualClock();
  const store = new BlinkingStore(clock);
  const env = {
    OLLAMA_MCP_DEFER_AFTER_MS: String(DEFER_MS),
    OLLAMA_MCP_JOB_LEASE_MS: String(LEASE_MS),
    OLLAMA_MCP_JOB_TTL_MS: String(TTL_MS),
  };
  const logA: string[] = [];
  const config = jobsConfig(resolveConfig({}, env));
  const jobsA = new Jobs(store, clock, config, { log: (_, message) => logA.push(message) });
  const jobsB = new Jobs(store, clock, config, { log: () => {} });
  const a = await t.server(env, { clock, jobs: jobsA });
  const b = await t.server(env, { clock, jobs: jobsB });
  await Promise.all([a.client.listTools(), b.client.listTools()]);
  return { clock, store, a, b, jobsA, logA };
}

type Instances = Awaited<ReturnType<typeof twoInstances>>;

/** Starts a cloud_chat on A that the fake answers after `latencyMs` of real time, and defers it. */
async function deferredOnA({ a, clock }: Instances, latencyMs: number): Promise<string> {
  t.fake.latency.chat = latencyMs;
  const call = a.call("cloud_chat", { prompt: "outlive the outage" });
  await until(() => t.fake.requestsTo("/api/chat").length > 0);
  clock.advance(DEFER_MS);
  const running = (await call).structuredContent as { status: string; job_id: string };
  expect(running.status).toBe("running");
  return running.job_id;
}

const structured = (result: CallToolResult) => result.structuredContent as Record<string, unknown>;

describe("a finished result is not lost when the store blinks", () => {
  it("keeps a result that finished while the store was down, answers for it from memory, and writes it when the store is back empty", async () => {
    const one = await twoInstances();
    const { a, b, store, jobsA } = one;
    const jobId = await deferredOnA(one, 100);
    store.goDown();
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    await until(
      async () =>
        structured(await a.call("get_result", { job_id: jobId, wait_ms: 0 })).status === "done",
    );
    const here = await a.call("get_result", { job_id: jobId, wait_ms: 0 });
    expect(structured(here)).toMatchObject({ status: "done", answer: "echo: outlive the outage" });
    const elsewhere = await b.call("get_result", { job_id: jobId, wait_ms: 0 });
    expect(textOf(elsewhere)).toMatch(/^The job store cannot be reached right now/);
    expect(jobsA.runningCount()).toBe(1);

    // Redis restarted without persistence: nothing of the job is left there but what A writes.
    store.comeBack({ empty: true });
    await until(() => jobsA.runningCount() === 0);
    const done = await b.call("get_result", { job_id: jobId, wait_ms: 0 });
    expect(structured(done)).toMatchObject({
      status: "done",
      job_id: jobId,
      answer: "echo: outlive the outage",
    });
  });

  it("does not call a job lost whose lease ran out during an outage before its server could renew it", async () => {
    const one = await twoInstances();
    const { b, store, clock } = one;
    t.fake.inject("chat", { hang: true });
    const jobId = await deferredOnA(one, 0);
    store.goDown();
    // Renewals fail all through the outage; the store keeps the record, the lease expires.
    clock.advance(LEASE_MS * 3);
    store.comeBack({ tellClients: false });
    const early = await b.call("get_result", { job_id: jobId, wait_ms: 0 });
    expect(structured(early)).toMatchObject({ status: "running", job_id: jobId });
    // A hears the store is back and renews at once; long after, the job is still running.
    store.reconnected();
    await until(async () => (await store.get(`ocm:job:${jobId}:lease`)) === "running");
    clock.advance(LEASE_MS * 3);
    const later = await b.call("get_result", { job_id: jobId, wait_ms: 0 });
    expect(structured(later)).toMatchObject({ status: "running", job_id: jobId });
    expect(textOf(await b.call("cancel_job", { job_id: jobId }))).toMatch(/^Stopped job/);
  });

  it("says on other instances that a finished result is being written while the store refuses it", async () => {
    const one = await twoInstances();
    const { b, store, clock, jobsA } = one;
    store.refuse = (key, value) => key.startsWith("ocm:job:") && value.includes('"status":"done"');
    const jobId = await deferredOnA(one, 50);
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    // The next renewal says the work is over and its result on its way.
    await until(async () => {
      clock.advance(LEASE_MS / 3);
      return (await store.get(`ocm:job:${jobId}:lease`)) === "writing";
    });
    const writing = await b.call("get_result", { job_id: jobId, wait_ms: 0 });
    expect(structured(writing)).toMatchObject({ status: "running", job_id: jobId });
    expect(textOf(writing)).toMatch(
      /has finished; its result is being written to the job store, which could not take it yet\. Call get_result again in a moment/,
    );
    store.refuse = undefined;
    await until(() => {
      clock.advance(1_000);
      return jobsA.runningCount() === 0;
    });
    expect(structured(await b.call("get_result", { job_id: jobId, wait_ms: 0 }))).toMatchObject({
      status: "done",
      answer: "echo: outlive the outage",
    });
  });

  it("gives a result up, and says so in its log, only once its time to live has passed", async () => {
    const one = await twoInstances();
    const { store, clock, jobsA, logA } = one;
    const jobId = await deferredOnA(one, 50);
    store.goDown();
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    await until(() => logA.some((line) => /kept here until the store takes it/.test(line)));
    clock.advance(TTL_MS / 2);
    expect(jobsA.runningCount()).toBe(1);
    await until(() => {
      clock.advance(5_000);
      return jobsA.runningCount() === 0;
    });
    expect(
      logA.some((line) => /could not take its result within OLLAMA_MCP_JOB_TTL_MS/.test(line)),
    ).toBe(true);
    expect(logA.join("\n")).not.toContain(jobId);
  });
});
