import type { CallToolResult } from "@modelcontextprotocol/server";
import { type Clock, withDeadline } from "../clock.js";
import type { OpsLogger, ProgressReporter } from "../observability.js";
import type { Store } from "../store/store.js";
import { ProgressRelay } from "./progress-relay.js";
import {
  type JobEvent,
  type JobRecord,
  jobKeys,
  type Lease,
  readEvent,
  readRecord,
} from "./records.js";

export interface JobsConfig {
  /** A long call still running after this long returns a handle (0: never). */
  deferAfterMs: number;
  /** How long a finished job's result stays readable. */
  ttlMs: number;
  /** Long calls running at once in this process; past it, a new one is refused. */
  maxRunning: number;
  /** Long calls one caller may have running at once in this process. */
  maxPerCaller: number;
  /** How long a running job's lease lasts unless renewed (every third of it). */
  leaseMs: number;
}

export interface JobDeps {
  store: Store;
  clock: Clock;
  config: JobsConfig;
  log: OpsLogger;
}

/** What a job is, as its owner may learn it. */
export type JobState =
  /** `storeRecovering`: the store came back from an outage moments ago and may not hold it yet. */
  | { kind: "unknown"; storeRecovering?: boolean }
  | { kind: "expired" }
  | { kind: "cancelled"; tool: string }
  | { kind: "lost"; tool: string }
  | {
      kind: "running";
      tool: string;
      startedAt: number;
      progress: JobProgress | undefined;
      /** The work has ended; its result is on its way to the store. */
      writing?: boolean;
    }
  | { kind: "done"; tool: string; result: CallToolResult };

type JobProgress = NonNullable<JobRecord["progress"]>;

/** A finished result the store could not take is tried again after this, doubling to the most. */
const FIRST_RETRY_MS = 250;
const MOST_RETRY_MS = 5_000;
/** Finished jobs are remembered this much longer than their results, to say "expired". */
const REMEMBER_EXPIRED_MS = 24 * 60 * 60 * 1000;

/**
 * Where a job is in its life here. `running`: the call is not answered yet, and nothing of the job
 * is in the store. `deferred`: the call was answered with its id; the store holds its record and
 * a lease renewed every third of the lease time. `writing`: the work has ended, and its final
 * record waits for the store. `abandoned`: at shutdown, recorded as lost; nothing may overwrite
 * that. `ended` and `dropped`: over here, after being deferred or not.
 */
export type JobPhase = "running" | "deferred" | "writing" | "abandoned" | "ended" | "dropped";

/** The steps a job may take; any other is refused. */
const NEXT: Readonly<Record<JobPhase, readonly JobPhase[]>> = {
  running: ["deferred", "dropped"],
  deferred: ["writing", "abandoned"],
  writing: ["ended", "abandoned"],
  abandoned: ["ended"],
  ended: [],
  dropped: [],
};

/** Whether a job in `from` may move to `to`. */
export function canMove(from: JobPhase, to: JobPhase): boolean {
  return NEXT[from].includes(to);
}

/**
 * One long call in this process, moving through its phases (JobPhase) by `move` alone. Every
 * store write goes through one queue, in order, so a renewal still in flight can never land after
 * the final record.
 *
 * A result the store cannot take (it is down, or restarting) stays here and is written again,
 * with back-off, and at once when the store is back, until it lands or its time to live has
 * passed; meanwhile the lease says "writing", and this instance answers for the job from memory.
 *
 * Two instances may write one job's record at once: the one running it, and one that cancels it
 * or finds its lease gone and marks it lost. The store keeps the last write. The runner reads
 * the record again before its final write, so a cancel recorded elsewhere stands; a "lost" mark
 * is overwritten by the result, which loses nothing. A cancel that lands between that read and
 * the write is overwritten too: the caller then finds a result it asked to stop.
 */
export class Job {
  readonly controller = new AbortController();
  readonly relay: ProgressRelay;
  /** Someone asked to stop it: its end is recorded as cancelled. */
  cancelRequested = false;
  /** The final record, once the work has ended; kept here until the store has it. */
  final: JobRecord | undefined;
  /** Resolves when the work has ended. */
  readonly workEnded: Promise<void>;
  /** Resolves when the job is over here: its end written to the store, or given up. */
  readonly gone: Promise<void>;
  private current: JobPhase = "running";
  private markWorkEnded = () => {};
  private markGone = () => {};
  private queue: Promise<void> = Promise.resolve();
  private stopLease = () => {};
  /** Ends a wait between attempts at the final write early. */
  private wake = () => {};
  /** How often the store came back: one coming back during a write means "try again at once". */
  private storeReturns = 0;
  private finishedAt = 0;
  private unsubscribe: () => Promise<void> = async () => {};

  constructor(
    readonly id: string,
    readonly owner: string,
    readonly tool: string,
    readonly startedAt: number,
    call: ProgressReporter,
    private readonly deps: JobDeps,
  ) {
    this.relay = new ProgressRelay(call, deps.clock);
    this.workEnded = new Promise((resolve) => {
      this.markWorkEnded = resolve;
    });
    this.gone = new Promise((resolve) => {
      this.markGone = resolve;
    });
  }

  get phase(): JobPhase {
    return this.current;
  }

  /** The call was answered with this job's id: the store holds (or held) it. */
  get deferred(): boolean {
    return this.current !== "running" && this.current !== "dropped";
  }

  /** Records the job as running and takes its lease; false when the store could not. */
  async defer(): Promise<boolean> {
    const { store, config, log } = this.deps;
    try {
      await store.set(jobKeys.record(this.id), this.runningRecord(), this.runningTtl());
      await store.set(jobKeys.lease(this.id), "running" satisfies Lease, config.leaseMs);
    } catch (error) {
      log.log("warning", `${this.tool} could not be deferred: the job store failed`, {
        error: (error as Error)?.name,
      });
      return false;
    }
    if (!this.move("deferred")) return false;
    this.unsubscribe = await store
      .subscribe(jobKeys.channel(this.id), (message) => {
        if (readEvent(message)?.type === "cancel") this.stop("The job was cancelled");
      })
      .catch(() => async () => {});
    // Each step published also refreshes the record, so a get_result that starts later sees it.
    this.relay.publishTo((progress) => {
      if (this.current !== "deferred" || this.cancelRequested) return;
      void this.write("progress", async () => {
        await store.set(jobKeys.record(this.id), this.runningRecord(), this.runningTtl());
        await this.publish({ type: "progress", progress });
      });
    });
    this.stopLease = this.every(Math.max(1, Math.floor(config.leaseMs / 3)), () => this.renew());
    return true;
  }

  /** The work has ended (with no result: it was cancelled or failed): record it. */
  finish(result: CallToolResult | undefined): void {
    this.finishedAt = this.deps.clock.now();
    this.final = {
      owner: this.owner,
      tool: this.tool,
      startedAt: this.startedAt,
      status: this.cancelRequested || !result ? "cancelled" : "done",
      result,
    };
    this.markWorkEnded();
    // A job abandoned at shutdown ends with its work stopped: "lost" stays its last word.
    if (this.move("writing")) void this.writeFinal();
  }

  /** The work ended before the call was answered: nothing of it is in the store. */
  endUndeferred(): void {
    this.markWorkEnded();
    this.leave("dropped");
  }

  /** The job's state, as this instance knows it. */
  state(): JobState {
    const final = this.final;
    if (final?.status === "done" && final.result) {
      return { kind: "done", tool: this.tool, result: final.result };
    }
    if (final) return { kind: "cancelled", tool: this.tool };
    return {
      kind: "running",
      tool: this.tool,
      startedAt: this.startedAt,
      progress: this.relay.latest,
    };
  }

  /** Stops the work at once; its end is recorded as cancelled. */
  stop(why: string): void {
    this.cancelRequested = true;
    this.controller.abort(new DOMException(why, "AbortError"));
  }

  /** cancel_job here: the cancel is recorded first, in the queue, then the work is stopped. */
  async cancel(): Promise<void> {
    this.cancelRequested = true;
    await this.write("recording it cancelled", () => recordCancelled(this.deps, this.id));
    this.stop("The job was cancelled");
  }

  /** The store is reachable again: renew the lease (and the record) or write the result now. */
  storeIsBack(): void {
    if (this.current === "deferred") this.renew();
    if (this.current === "writing") {
      this.storeReturns++;
      this.wake();
    }
  }

  /**
   * At shutdown: recorded as lost (after any write still in flight, so "lost" is the last word),
   * and stopped.
   */
  async abandon(): Promise<void> {
    if (!this.move("abandoned")) return;
    this.wake();
    await this.write("marking it lost", async () => {
      const record = readRecord(await this.deps.store.get(jobKeys.record(this.id)));
      if (record?.status === "running") await markLost(this.deps, this.id, record);
    });
    this.controller.abort(new DOMException("The server is shutting down", "AbortError"));
    this.leave("ended");
  }

  /** Takes a step of the job's life; an impossible one is refused (false) and logged. */
  private move(to: JobPhase): boolean {
    if (!canMove(this.current, to)) {
      if (this.current !== "abandoned" && this.current !== "ended") {
        this.deps.log.log("error", `a job cannot go from ${this.current} to ${to}`);
      }
      return false;
    }
    this.current = to;
    return true;
  }

  private renew(): void {
    const lease: Lease | undefined =
      this.current === "writing"
        ? "writing"
        : this.current === "deferred" && !this.cancelRequested
          ? "running"
          : undefined;
    if (!lease) return;
    const { store, config } = this.deps;
    void this.write("lease renewal", async () => {
      await store.set(jobKeys.lease(this.id), lease, config.leaseMs);
      // Rewritten too: a store that restarted empty has it again.
      if (lease === "running") {
        await store.set(jobKeys.record(this.id), this.runningRecord(), this.runningTtl());
      }
    });
  }

  /** Writes the final record; on failure, tries again with back-off until its TTL has passed. */
  private async writeFinal(): Promise<void> {
    const { clock, config, log } = this.deps;
    let backOff = 0;
    for (let attempt = 0; this.current === "writing"; attempt++) {
      const returnsBefore = this.storeReturns;
      const written = await this.write("the result", () => this.recordFinal());
      if (this.current !== "writing") return;
      if (written) return this.leave("ended");
      const left = this.finishedAt + config.ttlMs - clock.now();
      if (left <= 0) {
        log.log(
          "error",
          `a deferred ${this.tool} finished, but the job store could not take its result within OLLAMA_MCP_JOB_TTL_MS; it is dropped`,
        );
        return this.leave("ended");
      }
      if (attempt === 0) {
        log.log(
          "warning",
          `a deferred ${this.tool}: its result is kept here until the store takes it`,
        );
      }
      if (this.storeReturns !== returnsBefore) {
        backOff = 0;
        continue;
      }
      const delay = Math.min(FIRST_RETRY_MS * 2 ** backOff++, MOST_RETRY_MS, left);
      const woken = new Promise<boolean>((resolve) => {
        this.wake = () => resolve(true);
      });
      if (await withDeadline(clock, delay, woken, () => false)) backOff = 0;
      this.wake = () => {};
    }
  }

  /** The final record, unless a cancel recorded elsewhere stands; then the lease goes. */
  private async recordFinal(): Promise<void> {
    const { store } = this.deps;
    if (this.current !== "writing" || !this.final) return;
    const current = readRecord(await store.get(jobKeys.record(this.id)));
    const record = current?.status === "cancelled" ? current : this.final;
    await recordEnd(this.deps, this.id, record);
    this.final = record;
    await store.delete(jobKeys.lease(this.id));
    await this.publish({ type: "ended" });
  }

  /** Ends the job here: no more writes, no more events. */
  private leave(to: "ended" | "dropped"): void {
    if (!this.move(to)) return;
    this.stopLease();
    this.wake();
    void this.unsubscribe().catch(() => {});
    this.markGone();
  }

  /** Runs `step` after every write before it; resolves with whether it succeeded. */
  private write(what: string, step: () => Promise<unknown>): Promise<boolean> {
    const run = this.queue.then(step).then(
      () => true,
      (error: unknown) => {
        this.deps.log.log("warning", `a deferred ${this.tool}: ${what} failed in the job store`, {
          error: (error as Error)?.name,
        });
        return false;
      },
    );
    this.queue = run.then(() => {});
    return run;
  }

  private publish(event: JobEvent): Promise<void> {
    return this.deps.store.publish(jobKeys.channel(this.id), JSON.stringify(event));
  }

  private runningRecord(): string {
    return JSON.stringify({
      owner: this.owner,
      tool: this.tool,
      startedAt: this.startedAt,
      status: "running",
      progress: this.relay.latest,
    } satisfies JobRecord);
  }

  /** A running record never expires while its lease is renewed; its progress is kept fresh. */
  private runningTtl(): number {
    return Math.max(this.deps.config.ttlMs, this.deps.config.leaseMs * 3);
  }

  /** Calls `tick` every `ms` until the returned function stops it. */
  private every(ms: number, tick: () => void): () => void {
    let cancel = () => {};
    let stopped = false;
    const next = () => {
      cancel = this.deps.clock.schedule(ms, () => {
        if (stopped) return;
        tick();
        next();
      });
    };
    next();
    return () => {
      stopped = true;
      cancel();
    };
  }
}

/** A job's last record, and the note that lets get_result say "expired" once it is gone. */
export async function recordEnd(deps: JobDeps, id: string, record: JobRecord): Promise<void> {
  const { store, config } = deps;
  await store.set(jobKeys.record(id), JSON.stringify(record), config.ttlMs);
  await store.set(
    jobKeys.seen(id),
    JSON.stringify({ owner: record.owner, tool: record.tool }),
    config.ttlMs + REMEMBER_EXPIRED_MS,
  );
}

export async function markLost(deps: JobDeps, id: string, record: JobRecord): Promise<void> {
  await recordEnd(deps, id, { ...record, status: "lost", progress: undefined });
  await deps.store.publish(
    jobKeys.channel(id),
    JSON.stringify({ type: "ended" } satisfies JobEvent),
  );
}

/** Records a running job as cancelled; a job that already ended keeps its end. */
export async function recordCancelled(deps: JobDeps, id: string): Promise<void> {
  const record = readRecord(await deps.store.get(jobKeys.record(id)));
  if (record?.status === "running") {
    await recordEnd(deps, id, { ...record, status: "cancelled", progress: undefined });
  }
}
