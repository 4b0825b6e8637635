import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Clock } from "../clock.js";
import type { OpsLogger, ProgressReporter } from "../observability.js";
import { randomId } from "../random-id.js";
import type { Store } from "../store/store.js";

export interface JobsConfig {
  /** A long call still running after this long returns a handle (0: never). */
  deferAfterMs: number;
  /** How long a finished job's result stays readable. */
  ttlMs: number;
  /** Long calls running at once in this process; past it, a new one is refused. */
  maxRunning: number;
  /** How long a running job's lease lasts unless renewed (every third of it). */
  leaseMs: number;
}

export interface JobProgress {
  progress: number;
  total?: number | undefined;
  message: string;
}

type Status = "running" | "done" | "cancelled" | "lost";

interface JobRecord {
  owner: string;
  tool: string;
  status: Status;
  startedAt: number;
  progress?: JobProgress | undefined;
  /** The finished call's result, exactly as the tool would have returned it. */
  result?: CallToolResult | undefined;
}

type JobEvent =
  | { type: "progress"; progress: JobProgress }
  | { type: "ended" }
  | { type: "cancel" };

/** What a job is, as its owner may learn it. */
export type JobState =
  | { kind: "unknown" }
  | { kind: "expired" }
  | { kind: "cancelled"; tool: string }
  | { kind: "lost"; tool: string }
  | { kind: "running"; tool: string; startedAt: number; progress: JobProgress | undefined }
  | { kind: "done"; tool: string; result: CallToolResult };

/** A long call refused because too many are running: the message is for the user. */
export class JobsFullError extends Error {
  override name = "JobsFullError";
}

/** Finished jobs are remembered this much longer than their results, to say "expired". */
const REMEMBER_EXPIRED_MS = 24 * 60 * 60 * 1000;
/** Progress from a deferred job reaches the store at most this often (forced reports aside). */
const PUBLISH_PROGRESS_EVERY_MS = 1_000;

const key = (id: string) => `ocm:job:${id}`;
const seenKey = (id: string) => `ocm:job:${id}:seen`;
const leaseKey = (id: string) => `ocm:job:${id}:lease`;
const channel = (id: string) => `ocm:job:${id}`;

interface LocalJob {
  controller: AbortController;
  relay: ProgressRelay;
  cancelRequested: boolean;
  deferred: boolean;
  /** Set at shutdown, once the job was recorded as lost: nothing may overwrite that. */
  abandoned: boolean;
  /** Once deferred: the job's queue of writes to the store, which keeps them in order. */
  write?: (what: string, step: () => Promise<unknown>) => Promise<void>;
  /** Resolves when the job has written its end. */
  ended: Promise<void>;
}

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
 * holds a lease on it, and any instance can wait for it, cancel it, or see that it was lost.
 */
export class Jobs {
  private readonly local = new Map<string, LocalJob>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    readonly config: JobsConfig,
    private readonly log: OpsLogger,
  ) {}

  /** Runs a long call; resolves with its result, or with a handle if it outlasts the defer time. */
  async run(options: RunOptions): Promise<CallToolResult> {
    if (this.config.deferAfterMs === 0) return options.work(options.signal, options.progress);
    if (this.local.size >= this.config.maxRunning) {
      throw new JobsFullError(
        `Too many long calls are running on this server (the limit is ${this.config.maxRunning}, OLLAMA_MCP_MAX_JOBS). Wait for one to finish (get_result) or stop one (cancel_job), then try again.`,
      );
    }
    const id = randomId("job_");
    const startedAt = this.clock.now();
    const controller = new AbortController();
    const onCallAbort = () => controller.abort(options.signal.reason);
    if (options.signal.aborted) onCallAbort();
    else options.signal.addEventListener("abort", onCallAbort, { once: true });
    const relay = new ProgressRelay(options.progress, this.clock);
    let markEnded = () => {};
    const job: LocalJob = {
      controller,
      relay,
      cancelRequested: false,
      deferred: false,
      abandoned: false,
      ended: new Promise((resolve) => {
        markEnded = resolve;
      }),
    };
    this.local.set(id, job);
    const work = options.work(controller.signal, relay);
    let cancelTimer = () => {};
    const deferred = new Promise<"defer">((resolve) => {
      cancelTimer = this.clock.schedule(this.config.deferAfterMs, () => resolve("defer"));
    });
    const first = await Promise.race([work, deferred]).catch((error: unknown) => {
      cancelTimer();
      options.signal.removeEventListener("abort", onCallAbort);
      this.local.delete(id);
      markEnded();
      throw error;
    });
    if (first !== "defer") {
      cancelTimer();
      options.signal.removeEventListener("abort", onCallAbort);
      this.local.delete(id);
      markEnded();
      return first;
    }
    // The call is answered with the handle now: from here on the job is on its own.
    options.signal.removeEventListener("abort", onCallAbort);
    const base = { owner: options.owner, tool: options.tool, startedAt };
    try {
      await this.store.set(
        key(id),
        JSON.stringify({ ...base, status: "running", progress: relay.latest } satisfies JobRecord),
        this.runningTtl(),
      );
      await this.store.set(leaseKey(id), "1", this.config.leaseMs);
    } catch (error) {
      // Without the store, a handle would lead nowhere: the call keeps waiting instead.
      this.log.log("warning", `${options.tool} could not be deferred: the job store failed`, {
        error: (error as Error)?.name,
      });
      try {
        return await work;
      } finally {
        this.local.delete(id);
        markEnded();
      }
    }
    job.deferred = true;
    this.log.log(
      "info",
      `${options.tool} deferred: still working after ${this.config.deferAfterMs} ms`,
      {
        tool: options.tool,
      },
    );
    const unsubscribe = await this.store
      .subscribe(channel(id), (message) => {
        if ((JSON.parse(message) as JobEvent).type === "cancel") this.stopLocal(id);
      })
      .catch(() => async () => {});
    // Every write about this job goes through one queue, in order: a lease renewal still in
    // flight must never land after the final record and make a finished job look running.
    let queue: Promise<void> = Promise.resolve();
    let finished = false;
    const write = (what: string, step: () => Promise<unknown>) => {
      queue = queue.then(step).then(
        () => {},
        (error: unknown) => {
          this.log.log("warning", `a deferred ${options.tool}: ${what} failed in the job store`, {
            error: (error as Error)?.name,
          });
        },
      );
      return queue;
    };
    job.write = write;
    const running = () =>
      JSON.stringify({ ...base, status: "running", progress: relay.latest } satisfies JobRecord);
    // Each step published also refreshes the record, so a get_result that starts later sees it.
    relay.publishTo((progress) => {
      if (finished || job.cancelRequested || job.abandoned) return;
      void write("progress", async () => {
        await this.store.set(key(id), running(), this.runningTtl());
        await this.store.publish(
          channel(id),
          JSON.stringify({ type: "progress", progress } satisfies JobEvent),
        );
      });
    });
    const stopLease = this.renewLease(() => {
      if (finished || job.cancelRequested || job.abandoned) return;
      void write("lease renewal", () =>
        Promise.all([
          this.store.set(leaseKey(id), "1", this.config.leaseMs),
          this.store.set(key(id), running(), this.runningTtl()),
        ]),
      );
    });
    void work
      .catch((): CallToolResult | undefined => undefined)
      .then(async (result) => {
        finished = true;
        stopLease();
        const status: Status = job.cancelRequested || !result ? "cancelled" : "done";
        await write("the result", async () => {
          if (job.abandoned) return;
          await this.recordEnd(id, { ...base, status, result });
          await this.store.delete(leaseKey(id));
          await this.store.publish(
            channel(id),
            JSON.stringify({ type: "ended" } satisfies JobEvent),
          );
        });
        await unsubscribe().catch(() => {});
        this.local.delete(id);
        markEnded();
      });
    return options.running({ id, startedAt, progress: relay.latest });
  }

  /** The job's state now, as `owner` may see it. */
  async state(owner: string, id: string): Promise<JobState> {
    const raw = await this.store.get(key(id));
    if (!raw) {
      const seen = await this.store.get(seenKey(id));
      return seen && (JSON.parse(seen) as { owner: string }).owner === owner
        ? { kind: "expired" }
        : { kind: "unknown" };
    }
    const record = JSON.parse(raw) as JobRecord;
    // Another owner's job is as unknown as one that never existed.
    if (record.owner !== owner) return { kind: "unknown" };
    switch (record.status) {
      case "done":
        return { kind: "done", tool: record.tool, result: record.result as CallToolResult };
      case "cancelled":
        return { kind: "cancelled", tool: record.tool };
      case "lost":
        return { kind: "lost", tool: record.tool };
      default:
        if (!this.local.has(id) && !(await this.store.get(leaseKey(id)))) {
          await this.markLost(id, record);
          return { kind: "lost", tool: record.tool };
        }
        return {
          kind: "running",
          tool: record.tool,
          startedAt: record.startedAt,
          progress: record.progress,
        };
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
    let wake = () => {};
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let latest: JobProgress | undefined;
    // Subscribe before looking, so an end between the two is not missed.
    const unsubscribe = await this.store.subscribe(channel(id), (message) => {
      const event = JSON.parse(message) as JobEvent;
      if (event.type === "ended") wake();
      if (event.type === "progress") {
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
      if (first.kind !== "running" || waitMs === 0) return first;
      if (first.progress)
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
      if (!this.local.has(id)) checkLease();
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
    const state = await this.state(owner, id);
    if (state.kind !== "running") return state;
    const recordCancelled = async () => {
      const raw = await this.store.get(key(id));
      if (!raw) return;
      const record = JSON.parse(raw) as JobRecord;
      if (record.status === "running") {
        await this.recordEnd(id, { ...record, status: "cancelled", progress: undefined });
      }
    };
    const job = this.local.get(id);
    if (job?.write) {
      // Here, in the job's queue: no lease renewal may land after it and say "running" again.
      job.cancelRequested = true;
      await job.write("recording it cancelled", recordCancelled);
      this.stopLocal(id);
    } else {
      await recordCancelled();
      if (!this.stopLocal(id)) {
        await this.store.publish(
          channel(id),
          JSON.stringify({ type: "cancel" } satisfies JobEvent),
        );
      }
    }
    return state;
  }

  /**
   * At shutdown: with a shared store, deferred jobs may finish within the grace period (other
   * instances will read them); the rest are stopped and marked lost at once.
   */
  async close(graceMs: number): Promise<void> {
    const deferred = [...this.local.entries()].filter(([, job]) => job.deferred);
    if (this.store.shared && deferred.length > 0) {
      let cancel = () => {};
      await Promise.race([
        Promise.all(deferred.map(([, job]) => job.ended)),
        new Promise<void>((resolve) => {
          cancel = this.clock.schedule(graceMs, resolve);
        }),
      ]);
      cancel();
    }
    for (const [id, job] of this.local) {
      if (!job.deferred) continue;
      job.abandoned = true;
      // In the job's own queue, after any write still in flight, so "lost" is the last word.
      await job.write?.("marking it lost", async () => {
        const raw = await this.store.get(key(id));
        const record = raw ? (JSON.parse(raw) as JobRecord) : undefined;
        if (record?.status === "running") await this.markLost(id, record);
      });
      job.controller.abort(new DOMException("The server is shutting down", "AbortError"));
    }
  }

  /** Long calls running in this process now. */
  runningCount(): number {
    return this.local.size;
  }

  private stopLocal(id: string): boolean {
    const job = this.local.get(id);
    if (!job) return false;
    job.cancelRequested = true;
    job.controller.abort(new DOMException("The job was cancelled", "AbortError"));
    return true;
  }

  /** A job's last record, and the note that lets get_result say "expired" once it is gone. */
  private async recordEnd(id: string, record: JobRecord): Promise<void> {
    await this.store.set(key(id), JSON.stringify(record), this.config.ttlMs);
    await this.store.set(
      seenKey(id),
      JSON.stringify({ owner: record.owner, tool: record.tool }),
      this.config.ttlMs + REMEMBER_EXPIRED_MS,
    );
  }

  private async markLost(id: string, record: JobRecord): Promise<void> {
    await this.recordEnd(id, { ...record, status: "lost", progress: undefined });
    await this.store.publish(channel(id), JSON.stringify({ type: "ended" } satisfies JobEvent));
  }

  /** A running record never expires while its lease is renewed; its progress is kept fresh. */
  private runningTtl(): number {
    return Math.max(this.config.ttlMs, this.config.leaseMs * 3);
  }

  /** Calls `renew` every third of the lease until the returned function stops it. */
  private renewLease(renew: () => void): () => void {
    let cancel = () => {};
    let stopped = false;
    const every = Math.max(1, Math.floor(this.config.leaseMs / 3));
    const tick = () => {
      cancel = this.clock.schedule(every, () => {
        if (stopped) return;
        renew();
        tick();
      });
    };
    tick();
    return () => {
      stopped = true;
      cancel();
    };
  }
}

/**
 * Progress of a job: to the call that started it until that call is answered, then to the
 * store (throttled), where whichever get_result waits picks it up.
 */
class ProgressRelay implements ProgressReporter {
  latest: JobProgress | undefined;
  private publish: ((progress: JobProgress) => void) | undefined;
  private lastPublished = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly call: ProgressReporter,
    private readonly clock: Clock,
  ) {}

  report(
    progress: number,
    message: string,
    options: { total?: number; force?: boolean } = {},
  ): void {
    if (this.latest && progress <= this.latest.progress) return;
    this.latest = {
      progress,
      message,
      ...(options.total !== undefined && { total: options.total }),
    };
    if (!this.publish) {
      this.call.report(progress, message, options);
      return;
    }
    const now = this.clock.now();
    if (!options.force && now - this.lastPublished < PUBLISH_PROGRESS_EVERY_MS) return;
    this.lastPublished = now;
    this.publish(this.latest);
  }

  publishTo(publish: (progress: JobProgress) => void): void {
    this.publish = publish;
  }
}

export function jobsConfig(config: {
  deferAfterMs: number;
  jobTtlMs: number;
  maxJobs: number;
  jobLeaseMs: number;
}): JobsConfig {
  return {
    deferAfterMs: config.deferAfterMs,
    ttlMs: config.jobTtlMs,
    maxRunning: config.maxJobs,
    leaseMs: config.jobLeaseMs,
  };
}
