import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/server";
import type { z } from "zod";
import type { Caller } from "../caller.js";
import type { Clock } from "../clock.js";
import type { ServerConfig } from "../config.js";
import type { Conversations } from "../conversations.js";
import { describeDuration } from "../duration.js";
import type { Jobs } from "../jobs/jobs.js";
import type { LogFields, ProgressReporter } from "../observability.js";
import type { ToolName } from "../tool-names.js";
import type { CallOptions, Upstream } from "../upstream/upstream.js";

/** The settings a tool reads, by name: all it is handed of them. */
export type SettingName = keyof ServerConfig;

export interface ToolContext<Reads extends SettingName = never> {
  client: Upstream;
  /** Only the settings the tool declared (`settings`); reading another fails to compile. */
  config: Pick<ServerConfig, Reads>;
  /** Pass to every client call: the call's abort signal (client cancel or disconnect) and its log hooks. */
  call: CallOptions;
  /** Progress notifications for the client, when it asked for them. */
  progress: ProgressReporter;
  /** Facts about this call for the operational log (e.g. the model); never content. */
  logFields: LogFields;
  clock: Clock;
  caller: Caller;
  jobs: Jobs;
  conversations: Conversations;
  /** stdio: the server runs beside its client, on its machine; http: it serves remote callers. */
  transport: "stdio" | "http";
}

export type ToolOutput<Structured> =
  | {
      structured: Structured;
      /** The readable form of the same result, for clients that only show text. */
      text: string;
    }
  /** A result handed back as it is (get_result returns a stored one). */
  | { raw: CallToolResult };

/** Fields the registry adds to a long tool's result; its handler does not set them. */
type JobFields = "status" | "job_id" | "progress";

export interface ToolDefinition<
  Input extends z.ZodType = z.ZodType,
  Output extends z.ZodObject = z.ZodObject,
  Name extends ToolName = ToolName,
  Reads extends SettingName = SettingName,
> {
  name: Name;
  /** The settings its description and handler read; the registry hands it only these. */
  settings: readonly Reads[];
  title: string;
  /** One line on what it is for: the server's instructions and the docs list tools by it. */
  summary: string;
  /** What the model reads; a function when it quotes the server's settings. */
  description: string | ((config: Pick<ServerConfig, Reads>) => string);
  inputSchema: Input;
  outputSchema: Output;
  annotations: ToolAnnotations;
  /** May outlast a client's patience: deferred to a job after OLLAMA_MCP_DEFER_AFTER_MS. */
  long?: true;
  /** Has an interactive view of its result (MCP Apps, app-views.ts), for clients that render one. */
  view?: true;
  /** Works on long calls' jobs: offered whenever a long tool is, while deferral is on. */
  handlesJobs?: true;
  handle(
    input: z.output<Input>,
    context: ToolContext<Reads>,
  ): Promise<ToolOutput<Omit<z.input<Output>, JobFields>>>;
}

/**
 * The description a client lists for `tool` under `config`. A long tool says it may hand back
 * a job_id, after how long, while deferral is on.
 */
export function describeTool(tool: ToolDefinition, config: ServerConfig): string {
  const own =
    typeof tool.description === "function"
      ? tool.description(settingsOf(tool, config))
      : tool.description;
  if (!tool.long || config.deferAfterMs === 0) return own;
  return `${own} If it is still working after ${describeDuration(config.deferAfterMs)}, it returns status "running" with a job_id instead and goes on: call get_result with that job_id for the answer.`;
}

/** The settings `tool` declared, and no others. */
export function settingsOf<Reads extends SettingName>(
  tool: Pick<ToolDefinition<z.ZodType, z.ZodObject, ToolName, Reads>, "settings">,
  config: ServerConfig,
): Pick<ServerConfig, Reads> {
  return Object.fromEntries(tool.settings.map((name) => [name, config[name]])) as Pick<
    ServerConfig,
    Reads
  >;
}

export function defineTool<
  Input extends z.ZodType,
  Output extends z.ZodObject,
  const Name extends ToolName,
  const Reads extends SettingName = never,
>(
  definition: ToolDefinition<Input, Output, Name, Reads>,
): ToolDefinition<Input, Output, Name, Reads> {
  convertedOnce(definition.inputSchema);
  convertedOnce(definition.outputSchema);
  return definition;
}

/**
 * The SDK turns a tool's schemas into JSON Schema in every server it makes, and a 2026-07-28
 * request gets a server of its own. A tool's schemas never change, so each is turned once per
 * process, through the Standard JSON Schema hook the SDK reads (`~standard.jsonSchema`).
 */
function convertedOnce(schema: z.ZodType): void {
  const standard = schema["~standard"] as z.ZodType["~standard"] & {
    jsonSchema?: Record<"input" | "output", (options: { target: string }) => unknown>;
  };
  const convert = standard.jsonSchema;
  if (!convert) return;
  const done = new Map<string, unknown>();
  const once = (io: "input" | "output") => (options: { target: string }) => {
    const key = `${io} ${options.target}`;
    if (!done.has(key)) done.set(key, convert[io](options));
    // A copy: what the SDK is handed may be changed by it.
    return structuredClone(done.get(key));
  };
  (schema as { "~standard": unknown })["~standard"] = {
    ...standard,
    jsonSchema: { input: once("input"), output: once("output") },
  };
}

/** The tools that only read, and reach out to Ollama's cloud and the open web. */
export const READ_ONLY_OPEN_WORLD: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: true,
};

/** An expected failure whose message is already written for the user. */
export class ToolFailure extends Error {
  override name = "ToolFailure";
}
