import type { CallToolResult } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { Jobs } from "../src/jobs/jobs.js";
import type { OpsLogger, ProgressReporter } from "../src/observability.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { textOf } from "./harness.js";
import { ManualClock } from "./manual-clock.js";

/** A memory store whose writes of a running record wait while the gate is shut, as on a slow link. */
class SlowStore extends MemoryStore {
  private open = true;
  private held: (() => void)[] = [];
  heldWrites = 0;

  shut(): void {
    this.open = false;
  }

  release(): void {
    this.open = true;
    for (const go of this.held.splice(0)) go();
  }

  override async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!this.open && value.includes('"status":"running"')) {
      this.heldWrites++;
      await new Promise<void>((resolve) => this.held.push(resolve));
    }
    return super.set(key, value, ttlMs);
  }
}

const silent: OpsLogger = { log() {} };
const noProgress: ProgressReporter = { report() {} };
/**
 * Lets every promise chain the jobs and the memory store started run to where it waits on
 * something the test controls (the manual clock, a held write): a few turns of the event loop,
 * no real time.
 */
const flush = async () => {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
};

/** A deferred job whose work ends when the test says, and the time to its first lease renewal. */
async function deferredJob() {
  const clock = new ManualClock();
  const store = new SlowStore(clock);
  const config = { deferAfterMs: 100, ttlMs: 60_000, maxRunning: 4, maxPerCaller: 4, leaseMs: 300 };
  const jobs = new Jobs(store, clock, config, silent);
  // Another instance on the same store: it knows the job only from what reached the store.
  const elsewhere = new Jobs(store, clock, config, silent);
  let finish: (result: CallToolResult) => void = () => {};
  const handle = jobs.run({
    tool: "research",
    owner: "me",
    signal: new AbortController().signal,
    progress: noProgress,
    work: (signal) =>
      new Promise<CallToolResult>((resolve, reject) => {
        finish = resolve;
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    running: ({ id }) => ({ content: [{ type: "text", text: id }] }),
  });
  await clock.sleeping(100, 100);
  clock.advance(100);
  const id = textOf(await handle);
  await flush();
  return {
    clock,
    store,
    jobs,
    elsewhere,
    id,
    finish: (text: string) => finish({ content: [{ type: "text", text }] }),
  };
}

/** Starts a lease renewal and keeps it in flight (its write of the running record held). */
async function renewalInFlight(job: Awaited<ReturnType<typeof deferredJob>>) {
  job.store.shut();
  job.clock.advance(100);
  await flush();
  expect(job.store.heldWrites).toBe(1);
}

describe("a deferred job's writes to a slow store land in order", () => {
  it("a lease renewal still in flight when the job ends never makes it look running again", async () => {
    const job = await deferredJob();
    await renewalInFlight(job);
    job.finish("the answer");
    await flush();
    job.store.release();
    await flush();
    const state = await job.elsewhere.state("me", job.id);
    expect(state.kind).toBe("done");
    expect(state).toMatchObject({ result: { content: [{ text: "the answer" }] } });
  });

  it("cancel_job during a renewal in flight stays cancelled", async () => {
    const job = await deferredJob();
    await renewalInFlight(job);
    const cancelling = job.jobs.cancel("me", job.id);
    await flush();
    job.store.release();
    expect((await cancelling).kind).toBe("running");
    await flush();
    job.clock.advance(300);
    await flush();
    expect((await job.elsewhere.state("me", job.id)).kind).toBe("cancelled");
  });

  it("a job marked lost at shutdown stays lost, whatever was in flight", async () => {
    const job = await deferredJob();
    await renewalInFlight(job);
    const closing = job.jobs.close(0);
    await flush();
    job.store.release();
    await closing;
    await flush();
    expect((await job.elsewhere.state("me", job.id)).kind).toBe("lost");
  });
});
