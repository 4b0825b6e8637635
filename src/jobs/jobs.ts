import type { CallToolResult } from "@modelcontextprotocol/server";
import { type Clock, withDeadline } from "../clock.js";
import type { OpsLogger, ProgressReporter } from "../observability.js";
import { isRandomId, randomId } from "../random-id.js";
import type { Store } from "../store/store.js";
import {
  Job,
  type JobDeps,
  type JobState,
  type JobsConfig,
  markLost,
  recordCancelled,
} from "./job.js";
import { type JobProgress, jobKeys, readEvent, readRecord, readSeen } from "./records.js";

export type { JobState, JobsConfig } from "./job.js";
export type { JobProgress } from "./records.js";

/** A long call refused because too many are running: the message is for the user. */
export class JobsFullError extends Error {
  override name = "JobsFullError";
}

/**
 * After the store comes back from an outage, a job whose lease is gone is not called lost until
 * its server has had time to reconnect (its client waits at most this long between tries) and
 * renew it.
 */
const STORE_RECONNECT_MS = 5_000;

export interface RunOptions {
  tool: string;
  owner: string;
  /** The original call's signal: it cancels the job until the call has been answered. */
  signal: AbortSignal;
  progress: ProgressReporter;
  work(signal: AbortSignal, progress: ProgressReporter): Promise<CallToolResult>;
  /** The result that hands the caller a job id. */
  running(job: {
    id: string;
    startedAt: number;
    progress: JobProgress | undefined;
  }): CallToolResult;
}

/**
 * Long calls that outlive the client's patience. A call still working after `deferAfterMs`
 * returns a handle and goes on; its result is kept in the store, readable by id (by its owner
 * only) until it expires. The store may be shared by several instances: the one running a job
 * holds a lease on it and answers for it from memory; any instance can wait for it, cancel it,
 * or see that it was lost.
 */
export class Jobs {
  /** Every long call in flight here, deferred or not, and deferred ones until the store has their end. */
  private readonly local = new Map<string, Job>();
  private readonly deps: JobDeps;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    readonly config: JobsConfig,
    log: OpsLogger,
  ) {
    this.deps = { store, clock, config, log };
    store.onReconnect(() => {
      for (const job of this.local.values()) job.storeIsBack();
    });
  }

  /** Runs a long call; resolves with its result, or with a handle if it outlasts the defer time. */
  async run(options: RunOptions): Promise<CallToolResult> {
    if (this.config.deferAfterMs === 0) return options.work(options.signal, options.progress);
    this.checkRoom(options.owner);
    const job = new Job(
      randomId("job_"),
      options.owner,
      options.tool,
      this.clock.now(),
      options.progress,
      this.deps,
    );
    this.local.set(job.id, job);
    void job.gone.then(() => this.local.delete(job.id));
    const onCallAbort = () => job.controller.abort(options.signal.reason);
    if (options.signal.aborted) onCallAbort();
    else options.signal.addEventListener("abort", onCallAbort, { once: true });
    const work = options.work(job.controller.signal, job.relay);
    let first: CallToolResult | "defer";
    try {
      first = await withDeadline(
        this.clock,
        this.config.deferAfterMs,
        work,
        () => "defer" as const,
      );
    } catch (error) {
      job.endUndeferred();
      throw error;
    } finally {
      options.signal.removeEventListener("abort", onCallAbort);
    }
    if (first !== "defer") {
      job.endUndeferred();
      return first;
    }
    // The call is answered with the handle now: from here on the job is on its own.
    if (!(await job.defer())) {
      // Without the store, a handle would lead nowhere: the call keeps waiting instead.
      try {
        return await work;
      } finally {
        job.endUndeferred();
      }
    }
    this.deps.log.log(
      "info",
      `${options.tool} deferred: still working after ${this.config.deferAfterMs} ms`,
      { tool: options.tool },
    );
    void work.catch((): undefined => undefined).then((result) => job.finish(result));
    return options.running({ id: job.id, startedAt: job.startedAt, progress: job.relay.latest });
  }

  /** The job's state now, as `owner` may see it. */
  async state(owner: string, id: string): Promise<JobState> {
    if (!isRandomId("job_", id)) return { kind: "unknown" };
    const job = this.local.get(id);
    if (job?.deferred) return job.owner === owner ? job.state() : { kind: "unknown" };
    const record = readRecord(await this.store.get(jobKeys.record(id)));
    if (!record) {
      const seen = readSeen(await this.store.get(jobKeys.seen(id)));
      if (seen?.owner === owner) return { kind: "expired" };
      return { kind: "unknown", ...(this.storeRecovering() && { storeRecovering: true }) };
    }
    // Another owner's job is as unknown as one that never existed.
    if (record.owner !== owner) return { kind: "unknown" };
    switch (record.status) {
      case "done":
        return record.result
          ? { kind: "done", tool: record.tool, result: record.result }
          : { kind: "cancelled", tool: record.tool };
      case "cancelled":
        return { kind: "cancelled", tool: record.tool };
      case "lost":
        return { kind: "lost", tool: record.tool };
      default: {
        const running = {
          kind: "running" as const,
          tool: record.tool,
          startedAt: record.startedAt,
          progress: record.progress,
        };
        const lease = await this.store.get(jobKeys.lease(id));
        if (lease === "writing") return { ...running, writing: true };
        // With no lease, its server stopped renewing it; unless the store itself was just away.
        if (lease || this.storeRecovering()) return running;
        await markLost(this.deps, id, record);
        return { kind: "lost", tool: record.tool };
      }
    }
  }

  /**
   * Waits up to `waitMs` for the job to end, sending its progress to `progress` meanwhile, and
   * returns its state then. Waiting ends early if `signal` aborts; the job goes on.
   */
  async wait(
    owner: string,
    id: string,
    waitMs: number,
    progress: ProgressReporter,
    signal: AbortSignal,
  ): Promise<JobState> {
    if (!isRandomId("job_", id)) return { kind: "unknown" };
    const job = this.local.get(id);
    if (job?.deferred) {
      return job.owner === owner
        ? this.waitHere(job, waitMs, progress, signal)
        : { kind: "unknown" };
    }
    let wake = () => {};
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let latest: JobProgress | undefined;
    // Subscribe before looking, so an end between the two is not missed.
    const unsubscribe = await this.store.subscribe(jobKeys.channel(id), (message) => {
      const event = readEvent(message);
      if (event?.type === "ended") wake();
      if (event?.type === "progress") {
        latest = event.progress;
        progress.report(event.progress.progress, event.progress.message, {
          total: event.progress.total,
          force: true,
        });
      }
    });
    const timers: (() => void)[] = [];
    try {
      const first = await this.state(owner, id);
      // Just after an outage, the server running the job may not have written it again yet.
      const mayAppear = first.kind === "unknown" && first.storeRecovering === true;
      if ((first.kind !== "running" && !mayAppear) || waitMs === 0) return first;
      if (first.kind === "running" && first.progress)
        progress.report(first.progress.progress, first.progress.message, { force: true });
      timers.push(this.clock.schedule(waitMs, wake));
      // A job whose server died sends nothing more: its lease running out is what tells.
      const checkLease = () => {
        timers.push(
          this.clock.schedule(this.config.leaseMs, () => {
            void this.state(owner, id).then(
              (state) => (state.kind === "running" ? checkLease() : wake()),
              wake,
            );
          }),
        );
      };
      checkLease();
      const onAbort = () => wake();
      signal.addEventListener("abort", onAbort, { once: true });
      await woken;
      signal.removeEventListener("abort", onAbort);
      const state = await this.state(owner, id);
      return state.kind === "running" && latest ? { ...state, progress: latest } : state;
    } finally {
      for (const cancel of timers) cancel();
      await unsubscribe().catch(() => {});
    }
  }

  /** Stops a job at once, wherever it runs. */
  async cancel(owner: string, id: string): Promise<JobState> {
    if (!isRandomId("job_", id)) return { kind: "unknown" };
    const job = this.local.get(id);
    if (job?.deferred) {
      if (job.owner !== owner) return { kind: "unknown" };
      const state = job.state();
      if (state.kind === "running") await job.cancel();
      return state;
    }
    const state = await this.state(owner, id);
    if (state.kind !== "running") return state;
    await recordCancelled(this.deps, id);
    await this.store.publish(jobKeys.channel(id), JSON.stringify({ type: "cancel" }));
    return state;
  }

  /**
   * At shutdown: with a shared store, deferred jobs may finish within the grace period (other
   * instances will read them); the rest are stopped and marked lost at once.
   */
  async close(graceMs: number): Promise<void> {
    const deferred = [...this.local.values()].filter((job) => job.deferred);
    if (this.store.shared && deferred.length > 0) {
      await withDeadline(
        this.clock,
        graceMs,
        Promise.all(deferred.map((job) => job.gone)),
        () => {},
      );
    }
    for (const job of [...this.local.values()]) if (job.deferred) await job.abandon();
  }

  /** Long calls here now: running, or finished with a result not yet in the store. */
  runningCount(): number {
    return this.local.size;
  }

  /** A job running here, watched from memory: no store is needed to see it end. */
  private async waitHere(
    job: Job,
    waitMs: number,
    progress: ProgressReporter,
    signal: AbortSignal,
  ): Promise<JobState> {
    const now = job.state();
    if (now.kind !== "running" || waitMs === 0) return now;
    const report = (step: JobProgress) =>
      progress.report(step.progress, step.message, { total: step.total, force: true });
    if (now.progress) report(now.progress);
    const unwatch = job.relay.watch(report);
    let onAbort = () => {};
    const aborted = new Promise<void>((resolve) => {
      onAbort = resolve;
      signal.addEventListener("abort", onAbort, { once: true });
    });
    await withDeadline(this.clock, waitMs, Promise.race([job.workEnded, aborted]), () => {});
    signal.removeEventListener("abort", onAbort);
    unwatch();
    return job.state();
  }

  /** Refuses a new long call past the caller's limit or the server's. */
  private checkRoom(owner: string): void {
    const { maxPerCaller, maxRunning } = this.config;
    let mine = 0;
    for (const job of this.local.values()) if (job.owner === owner) mine++;
    if (mine >= maxPerCaller) {
      throw new JobsFullError(
        `You have too many long calls running on this server (the limit is ${maxPerCaller} per caller, OLLAMA_MCP_MAX_JOBS_PER_CALLER). Wait for one of yours to finish (get_result) or stop one (cancel_job), then try again.`,
      );
    }
    if (this.local.size >= maxRunning) {
      throw new JobsFullError(
        `Too many long calls are running on this server (the limit is ${maxRunning}, OLLAMA_MCP_MAX_JOBS). Wait for one to finish (get_result) or stop one (cancel_job), then try again; if this keeps happening, the server's operator can raise OLLAMA_MCP_MAX_JOBS.`,
      );
    }
  }

  /** The store came back from an outage so recently that a job's server may not have renewed it yet. */
  private storeRecovering(): boolean {
    return this.store.reachableForMs() < this.config.leaseMs + STORE_RECONNECT_MS;
  }
}

export function jobsConfig(config: {
  deferAfterMs: number;
  jobTtlMs: number;
  maxJobs: number;
  maxJobsPerCaller: number;
  jobLeaseMs: number;
}): JobsConfig {
  return {
    deferAfterMs: config.deferAfterMs,
    ttlMs: config.jobTtlMs,
    maxRunning: config.maxJobs,
    maxPerCaller: config.maxJobsPerCaller,
    leaseMs: config.jobLeaseMs,
  };
}
