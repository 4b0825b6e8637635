import type { ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import type { Clock } from "../clock.js";
import type { ServerConfig } from "../config.js";
import type { LogFields, ProgressReporter } from "../observability.js";
import type { CallOptions, Upstream } from "../upstream/upstream.js";

export interface ToolContext {
  client: Upstream;
  config: ServerConfig;
  /** Pass to every client call: the call's abort signal (client cancel or disconnect) and its log hooks. */
  call: CallOptions;
  /** Progress notifications for the client, when it asked for them. */
  progress: ProgressReporter;
  /** Facts about this call for the operational log (e.g. the model); never content. */
  logFields: LogFields;
  clock: Clock;
}

export interface ToolOutput<Structured> {
  structured: Structured;
  /** The readable form of the same result, for clients that only show text. */
  text: string;
}

export interface ToolDefinition<
  Input extends z.ZodType = z.ZodType,
  Output extends z.ZodObject = z.ZodObject,
> {
  name: string;
  title: string;
  description: string;
  inputSchema: Input;
  outputSchema: Output;
  annotations: ToolAnnotations;
  handle(input: z.output<Input>, context: ToolContext): Promise<ToolOutput<z.input<Output>>>;
}

export function defineTool<Input extends z.ZodType, Output extends z.ZodObject>(
  definition: ToolDefinition<Input, Output>,
): ToolDefinition<Input, Output> {
  return definition;
}

/** Every tool here only reads, and reaches out to Ollama's cloud and the open web. */
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
