/**
 * Where time comes from: timeouts, retry back-off, research time limits, deferred jobs and leases
 * all go through one Clock, so tests can run them on virtual time instead of waiting.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`, unless the returned function is called first. */
  schedule(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** Resolves after `ms` on the clock; rejects with the signal's reason if it aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      cancel();
      reject(abortReason(signal as AbortSignal));
    };
    const cancel = clock.schedule(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A timer on a clock that can be re-armed (an idle timeout) or stopped. */
export function clockTimer(clock: Clock, ms: number, onFire: () => void) {
  let cancel: (() => void) | undefined;
  const stop = () => {
    cancel?.();
    cancel = undefined;
  };
  return {
    arm() {
      stop();
      cancel = clock.schedule(ms, () => {
        cancel = undefined;
        onFire();
      });
    },
    stop,
  };
}

/** The signal's reason when it is an error; otherwise an AbortError, as fetch would throw. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException(String(signal.reason ?? "The operation was aborted"), "AbortError");
}

/**
 * `work`'s outcome, or `onTimeout()`'s if `ms` passes on the clock first; the timer is cleared
 * either way. (`work` goes on: stopping it, if it must stop, is the caller's to do.)
 */
export async function withDeadline<T, U>(
  clock: Clock,
  ms: number,
  work: Promise<T>,
  onTimeout: () => U,
): Promise<T | U> {
  let cancel = () => {};
  const deadline = new Promise<U>((resolve, reject) => {
    cancel = clock.schedule(ms, () => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    });
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    cancel();
  }
}
