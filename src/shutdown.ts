import { type Clock, withDeadline } from "./clock.js";

/**
 * The end of a transport's calls at shutdown, for stdio and HTTP alike: calls in flight may
 * finish within the grace period; those still running then are answered with a
 * shutting-down error by `answerRest`.
 */
export async function finishCallsInFlight(options: {
  clock: Clock;
  graceMs: number;
  /** Resolves once every call has been answered. */
  answered: Promise<void>;
  answerRest(): void | Promise<void>;
}): Promise<void> {
  await withDeadline(options.clock, options.graceMs, options.answered, () => {});
  await options.answerRest();
}

/** What a call still running at shutdown is answered with. */
export const STOPPED_AT_SHUTDOWN =
  "The server is shutting down, so this call was stopped before it finished. Run it again once the server is back.";
