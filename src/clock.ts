/**
 * Where time comes from: timeouts, retry back-off, research time limits, deferred jobs and leases
 * all go through one Clock, so tests can run them on virtual time instead of waiting.
 */
export interface Clock {
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason (an AbortError) if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal as AbortSignal));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};

/**
 * A timer on a clock that can be re-armed (an idle timeout) or stopped. `onFire` runs at most
 * once per arming.
 */
export function clockTimer(clock: Clock, ms: number, onFire: () => void) {
  let current: AbortController | undefined;
  const stop = () => {
    current?.abort();
    current = undefined;
  };
  const arm = () => {
    stop();
    const armed = new AbortController();
    current = armed;
    clock.sleep(ms, armed.signal).then(
      () => {
        if (current === armed) {
          current = undefined;
          onFire();
        }
      },
      () => {},
    );
  };
  return { arm, stop };
}

/** The signal's reason when it is an error; otherwise an AbortError, as fetch would throw. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException(String(signal.reason ?? "The operation was aborted"), "AbortError");
}
