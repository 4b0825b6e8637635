import {
  type CallToolResult,
  LOG_LEVEL_META_KEY,
  type LoggingLevel,
  type McpServer,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { viewMeta } from "../app-views.js";
import { type Caller, callerFrom } from "../caller.js";
import type { Clock } from "../clock.js";
import type { ServerConfig } from "../config.js";
import type { Conversations } from "../conversations.js";
import { type Jobs, JobsFullError } from "../jobs/jobs.js";
import {
  DEFAULT_MCP_LOG_LEVEL,
  fanOut,
  isLoggingLevel,
  type LogFields,
  logUpstreamEvent,
  mcpLogger,
  NO_PROGRESS,
  type OpsLogger,
  type ProgressReporter,
  progressReporter,
} from "../observability.js";
import { combine, type Redact, redactor } from "../redact.js";
import { StoreUnavailableError } from "../store/store.js";
import { UpstreamError } from "../upstream/errors.js";
import { isAbortError } from "../upstream/signals.js";
import type { Upstream } from "../upstream/upstream.js";
import { TOOLS } from "./all.js";
import {
  describeTool,
  type SettingName,
  settingsOf,
  type ToolContext,
  type ToolDefinition,
  ToolFailure,
} from "./define-tool.js";
import { runningResult } from "./get-result.js";

export interface RegistryDeps {
  client: Upstream;
  /** Where human-readable operational lines go (stderr in the bin). */
  stderr: OpsLogger;
  progressThrottleMs: number;
  clock: Clock;
  /** The last line of defence: no secret leaves in a result, whatever an upstream echoed. */
  redact: Redact;
  jobs: Jobs;
  conversations: Conversations;
  transport: "stdio" | "http";
}

/**
 * A tool as this server offers it: its definition, its description under the settings, and the
 * settings it declared, the only ones its calls are handed.
 */
export interface OfferedTool {
  tool: ToolDefinition;
  description: string;
  settings: Pick<ServerConfig, SettingName>;
}

/**
 * The tools the settings offer, each with what it says under them: those OLLAMA_MCP_TOOLS names,
 * and while deferral is on, get_result and cancel_job with any long tool.
 */
export function offeredTools(config: ServerConfig): OfferedTool[] {
  const named = TOOLS.filter((tool) => config.tools.includes(tool.name));
  const deferring = config.deferAfterMs > 0 && named.some((tool) => tool.long);
  return TOOLS.filter((tool) => named.includes(tool) || (deferring && tool.handlesJobs)).map(
    (tool) => ({
      tool,
      description: describeTool(tool, config),
      settings: settingsOf(tool, config),
    }),
  );
}

export function registerTools(
  server: McpServer,
  offered: readonly OfferedTool[],
  deps: RegistryDeps,
): void {
  // A 2025 connection sets its level once (logging/setLevel) and hears warnings until it does;
  // a 2026-07-28 request names its own level in its envelope, and hears nothing if it names none.
  let sessionLevel: LoggingLevel = DEFAULT_MCP_LOG_LEVEL;
  server.server.setRequestHandler("logging/setLevel", (request) => {
    sessionLevel = request.params.level;
    return {};
  });
  const levelFor = (ctx: ServerContext): LoggingLevel | undefined => {
    const envelope: Record<string, unknown> | undefined = ctx.mcpReq.envelope;
    if (!envelope) return sessionLevel;
    const asked = envelope[LOG_LEVEL_META_KEY];
    return isLoggingLevel(asked) ? asked : undefined;
  };
  for (const { tool, description, settings } of offered) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description,
        inputSchema: tool.inputSchema,
        outputSchema: tool.outputSchema,
        annotations: tool.annotations,
        ...(tool.view && { _meta: viewMeta(tool.name) }),
      },
      async (input: unknown, ctx): Promise<CallToolResult> => {
        const log = fanOut(
          deps.stderr,
          mcpLogger(
            // A 2026-07-28 line rides its request's stream. A 2025 line goes to the session, as
            // before: a deferred job's lines then still reach a client after its call returned.
            (params) =>
              ctx.mcpReq.envelope
                ? ctx.mcpReq.notify({ method: "notifications/message", params })
                : server.server.sendLoggingMessage(params, ctx.sessionId),
            levelFor(ctx),
          ),
        );
        const token = ctx.mcpReq._meta?.progressToken;
        const progress =
          token === undefined
            ? NO_PROGRESS
            : progressReporter(
                (params) =>
                  ctx.mcpReq.notify({
                    method: "notifications/progress",
                    params: { progressToken: token, ...params },
                  }),
                deps.progressThrottleMs,
                () => deps.clock.now(),
              );
        const caller = callerFrom(ctx.http?.authInfo);
        const execute = (signal: AbortSignal, reporter: ProgressReporter) =>
          runTool(tool, input, { deps, settings, log, signal, progress: reporter, caller });
        if (!tool.long) return execute(ctx.mcpReq.signal, progress);
        try {
          return await deps.jobs.run({
            tool: tool.name,
            owner: caller.owner,
            signal: ctx.mcpReq.signal,
            progress,
            work: execute,
            running: (job) =>
              runningResult(tool.name, job, deps.clock.now(), deps.jobs.config.deferAfterMs),
          });
        } catch (error) {
          return errorResult(tool.name, error, log);
        }
      },
    );
  }
}

/** One tool call to its end: the handler, errors as results, redaction, and the log line. */
async function runTool(
  tool: ToolDefinition,
  input: unknown,
  run: {
    deps: RegistryDeps;
    settings: Pick<ServerConfig, SettingName>;
    log: OpsLogger;
    signal: AbortSignal;
    progress: ProgressReporter;
    caller: Caller;
  },
): Promise<CallToolResult> {
  const { deps, log, signal } = run;
  const started = deps.clock.now();
  const logFields: LogFields = {};
  const context: ToolContext<SettingName> = {
    client: deps.client,
    config: run.settings,
    call: {
      signal,
      onEvent: (event) => logUpstreamEvent(log, tool.name, event),
      // A caller with its own key has its own share of the upstream cap, and its own caches.
      ...(run.caller.apiKey && { apiKey: run.caller.apiKey, lane: run.caller.owner }),
    },
    progress: run.progress,
    logFields,
    clock: deps.clock,
    caller: run.caller,
    jobs: deps.jobs,
    conversations: deps.conversations,
    transport: deps.transport,
  };
  let result: CallToolResult;
  try {
    const output = await tool.handle(input, context);
    result =
      "raw" in output
        ? output.raw
        : {
            content: [{ type: "text", text: output.text }],
            structuredContent: {
              ...(output.structured as Record<string, unknown>),
              ...(tool.long && { status: "done" }),
            },
          };
  } catch (error) {
    result = errorResult(tool.name, error, log);
    logFields.error = error instanceof Error ? error.name : "error";
  }
  const redact = run.caller.apiKey
    ? combine(deps.redact, redactor([run.caller.apiKey]))
    : deps.redact;
  result = redactResult(result, redact);
  const status = signal.aborted ? "cancelled" : result.isError ? "error" : "ok";
  log.log(result.isError ? "warning" : "info", `${tool.name} ${status}`, {
    tool: tool.name,
    status,
    ms: deps.clock.now() - started,
    ...logFields,
  });
  return result;
}

function redactResult(result: CallToolResult, redact: Redact): CallToolResult {
  const content = result.content.map((part) =>
    part.type === "text" ? { ...part, text: redact(part.text) } : part,
  );
  if (!result.structuredContent) return { ...result, content };
  const json = JSON.stringify(result.structuredContent);
  const clean = redact(json);
  return {
    ...result,
    content,
    structuredContent: clean === json ? result.structuredContent : JSON.parse(clean),
  };
}

export function errorResult(toolName: string, error: unknown, log: OpsLogger): CallToolResult {
  let text: string;
  if (
    error instanceof UpstreamError ||
    error instanceof ToolFailure ||
    error instanceof JobsFullError ||
    error instanceof StoreUnavailableError
  ) {
    text = error.message;
  } else if (isAbortError(error)) {
    text = "The call was cancelled before it finished.";
  } else {
    // Only the error's class goes to the log: its message could quote a prompt or a page.
    log.log(
      "error",
      `${toolName} hit an unexpected ${error instanceof Error ? error.name : typeof error}`,
      {
        tool: toolName,
      },
    );
    text = `${toolName} failed unexpectedly (${error instanceof Error ? error.name : "error"}). This is a bug in ollama-cloud-mcp; please report it.`;
  }
  return { content: [{ type: "text", text }], isError: true };
}
