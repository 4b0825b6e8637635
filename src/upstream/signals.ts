import { abortReason } from "../clock.js";

/**
 * One signal that aborts when any input does. Unlike AbortSignal.any it detaches its listeners
 * on dispose, so a long-lived server does not accumulate them.
 */
export function linkSignals(inputs: readonly (AbortSignal | undefined)[]): {
  signal: AbortSignal;
  /** Aborts the linked signal itself (a timeout), whatever the inputs do. */
  abort: (reason?: unknown) => void;
  dispose: () => void;
} {
  const signals = inputs.filter((s): s is AbortSignal => s !== undefined);
  const controller = new AbortController();
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  const already = signals.find((s) => s.aborted);
  if (already) controller.abort(already.reason);
  else for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    dispose: () => {
      for (const s of signals) s.removeEventListener("abort", onAbort);
    },
  };
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}
