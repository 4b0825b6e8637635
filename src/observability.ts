import type { LoggingLevel } from "@modelcontextprotocol/server";
import type { LogLevel } from "./config.js";
import type { UpstreamEvent } from "./upstream/fetch-seam.js";

/** Operational facts only: names, statuses, counts and timings. Never prompts, queries, results or keys. */
export type LogFields = Record<string, string | number | boolean | undefined>;

export type OpsLevel = Exclude<LogLevel, "off">;

export interface OpsLogger {
  log(level: OpsLevel, message: string, fields?: LogFields): void;
}

/** One scale for both sinks: MCP's levels, plus "off" for stderr. */
const SEVERITY: Record<LoggingLevel | "off", number> = {
  debug: 0,
  info: 1,
  notice: 2,
  warning: 3,
  error: 4,
  critical: 5,
  alert: 6,
  emergency: 7,
  off: 8,
};

export function isLoggingLevel(value: unknown): value is LoggingLevel {
  return typeof value === "string" && value in SEVERITY && value !== "off";
}

/** Human-readable lines for stderr, filtered by the configured level. */
export function stderrLogger(minimum: LogLevel, write: (line: string) => void): OpsLogger {
  return {
    log(level, message, fields = {}) {
      if (SEVERITY[level] < SEVERITY[minimum]) return;
      const extras = Object.entries(fields)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => `${key}=${value}`)
        .join(" ");
      write(`${level}: ${message}${extras ? ` (${extras})` : ""}`);
    },
  };
}

/**
 * MCP `notifications/message` at or above `minimum`; none at all when it is undefined (a
 * 2026-07-28 request that named no level).
 */
export function mcpLogger(
  send: (params: { level: LoggingLevel; logger: string; data: unknown }) => Promise<void>,
  minimum: LoggingLevel | undefined,
): OpsLogger {
  if (minimum === undefined) return { log: () => {} };
  return {
    log(level, message, fields = {}) {
      if (SEVERITY[level] < SEVERITY[minimum]) return;
      send({ level, logger: "ollama-cloud-mcp", data: { message, ...fields } }).catch(() => {
        // The client may have gone; a lost log line must never fail a call.
      });
    },
  };
}

/** Until a 2025 client sends `logging/setLevel`: every call would otherwise cost extra messages. */
export const DEFAULT_MCP_LOG_LEVEL: LoggingLevel = "warning";

export function fanOut(...loggers: OpsLogger[]): OpsLogger {
  return {
    log(...args) {
      for (const logger of loggers) logger.log(...args);
    },
  };
}

export function logUpstreamEvent(logger: OpsLogger, tool: string, event: UpstreamEvent): void {
  const fields: LogFields = {
    tool,
    endpoint: event.endpoint,
    attempt: event.attempt,
    outcome: event.outcome,
    ms: event.ms,
    retry_in_ms: event.retryInMs,
  };
  if (event.retryInMs !== undefined) {
    logger.log("warning", `upstream ${event.endpoint} answered ${event.outcome}; retrying`, fields);
  } else if (typeof event.outcome === "number" && event.outcome < 400) {
    logger.log("debug", `upstream ${event.endpoint} answered ${event.outcome}`, fields);
  } else if (event.outcome !== "cancelled") {
    logger.log("warning", `upstream ${event.endpoint} failed: ${event.outcome}`, fields);
  }
}

export interface ProgressReporter {
  /** Reports `progress` (only if larger than the last), throttled unless `force` is set. */
  report(progress: number, message: string, options?: { total?: number; force?: boolean }): void;
}

export const NO_PROGRESS: ProgressReporter = { report: () => {} };

export function progressReporter(
  send: (params: { progress: number; total?: number; message: string }) => Promise<void>,
  throttleMs: number,
  now: () => number,
): ProgressReporter {
  let last = Number.NEGATIVE_INFINITY;
  let lastSentAt = Number.NEGATIVE_INFINITY;
  return {
    report(progress, message, options = {}) {
      if (progress <= last) return;
      if (!options.force && now() - lastSentAt < throttleMs) return;
      last = progress;
      lastSentAt = now();
      send({
        progress,
        message,
        ...(options.total !== undefined && { total: options.total }),
      }).catch(() => {});
    },
  };
}
