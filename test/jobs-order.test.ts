import type { CallToolResult } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { canMove, Job, type JobPhase } from "../src/jobs/job.js";
import { Jobs } from "../src/jobs/jobs.js";
import { jobKeys } from "../src/jobs/records.js";
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

describe("a job's phases", () => {
  const PHASES: JobPhase[] = ["running", "deferred", "writing", "abandoned", "ended", "dropped"];
  const config = { deferAfterMs: 100, ttlMs: 60_000, maxRunning: 4, maxPerCaller: 4, leaseMs: 300 };
  const answer: CallToolResult = { content: [{ type: "text", text: "the answer" }] };

  it("are the steps of a job's life, and no others", () => {
    const steps = PHASES.flatMap((from) =>
      PHASES.filter((to) => canMove(from, to)).map((to) => `${from} -> ${to}`),
    );
    expect(steps).toEqual([
      "running -> deferred",
      "running -> dropped",
      "deferred -> writing",
      "deferred -> abandoned",
      "writing -> abandoned",
      "writing -> ended",
      "abandoned -> ended",
    ]);
  });

  it("refuse a step a job cannot take, and write nothing once it has ended", async () => {
    const clock = new ManualClock();
    const store = new MemoryStore(clock);
    const logged: string[] = [];
    const deps = {
      store,
      clock,
      config,
      log: { log: (level: string, m: string) => logged.push(`${level}: ${m}`) },
    };
    const job = new Job("job_a", "me", "research", 0, noProgress, deps);
    expect(job.phase).toBe("running");
    expect(await job.defer()).toBe(true);
    expect(job.phase).toBe("deferred");
    job.endUndeferred();
    expect(job.phase).toBe("deferred");
    expect(logged).toEqual(["error: a job cannot go from deferred to dropped"]);

    job.finish(answer);
    expect(job.phase).toBe("writing");
    await flush();
    expect(job.phase).toBe("ended");
    const record = await store.get(jobKeys.record("job_a"));
    expect(record).toContain('"status":"done"');
    // Late events after the end: a store that comes back, a shutdown, a second end.
    job.storeIsBack();
    await job.abandon();
    job.finish(undefined);
    clock.advance(1_000);
    await flush();
    expect(job.phase).toBe("ended");
    expect(await store.get(jobKeys.record("job_a"))).toBe(record);
    expect(logged).toHaveLength(1);
  });
});
