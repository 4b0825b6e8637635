import type { Clock } from "../clock.js";
import type { ProgressReporter } from "../observability.js";
import type { JobProgress } from "./records.js";

/** Progress from a deferred job reaches the store at most this often (forced reports aside). */
const PUBLISH_PROGRESS_EVERY_MS = 1_000;

/**
 * Progress of a job: to the call that started it until that call is answered; then to the store
 * (throttled), where a get_result on any instance picks it up, and to get_result calls waiting
 * on this instance.
 */
export class ProgressRelay implements ProgressReporter {
  latest: JobProgress | undefined;
  private publish: ((progress: JobProgress) => void) | undefined;
  private lastPublished = Number.NEGATIVE_INFINITY;
  private readonly watchers = new Set<(progress: JobProgress) => void>();

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
    const latest = {
      progress,
      message,
      ...(options.total !== undefined && { total: options.total }),
    };
    this.latest = latest;
    for (const watcher of this.watchers) watcher(latest);
    if (!this.publish) {
      this.call.report(progress, message, options);
      return;
    }
    const now = this.clock.now();
    if (!options.force && now - this.lastPublished < PUBLISH_PROGRESS_EVERY_MS) return;
    this.lastPublished = now;
    this.publish(latest);
  }

  /** From now on, progress goes to the store through `publish` instead of to the call. */
  publishTo(publish: (progress: JobProgress) => void): void {
    this.publish = publish;
  }

  /** Sends every step to `watcher` until the returned function is called. */
  watch(watcher: (progress: JobProgress) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }
}
