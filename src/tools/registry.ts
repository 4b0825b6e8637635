import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { isAbortError, UpstreamError } from "../upstream/errors.js";
import { cloudChat } from "./cloud-chat.js";
import {
  type ToolContext,
  type ToolDefinition,
  ToolFailure,
  ToolInputError,
} from "./define-tool.js";
import { searchAndSummarize } from "./search-and-summarize.js";
import { webSearch } from "./web-search.js";

export const TOOLS: readonly ToolDefinition[] = [
  cloudChat,
  webSearch,
  searchAndSummarize,
] as unknown as readonly ToolDefinition[];

export type Log = (line: string) => void;

export function registerTools(
  server: McpServer,
  context: Omit<ToolContext, "signal">,
  log: Log,
): void {
  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        outputSchema: tool.outputSchema,
        annotations: tool.annotations,
      },
      async (input: unknown, extra): Promise<CallToolResult> => {
        try {
          const { structured, text } = await tool.handle(input, {
            ...context,
            signal: extra.signal,
          });
          return {
            content: [{ type: "text", text }],
            structuredContent: structured as Record<string, unknown>,
          };
        } catch (error) {
          return errorResult(tool.name, error, log);
        }
      },
    );
  }
}

export function errorResult(toolName: string, error: unknown, log: Log): CallToolResult {
  let text: string;
  if (error instanceof ToolInputError) {
    text = `Input validation error: ${error.message}`;
  } else if (error instanceof UpstreamError || error instanceof ToolFailure) {
    text = error.message;
  } else if (isAbortError(error)) {
    text = "The call was cancelled before it finished.";
  } else {
    // Only the error's class goes to the log: its message could quote a prompt or a page.
    log(`${toolName}: unexpected ${error instanceof Error ? error.name : typeof error}`);
    text = `${toolName} failed unexpectedly (${error instanceof Error ? error.name : "error"}). This is a bug in ollama-cloud-mcp; please report it.`;
  }
  return { content: [{ type: "text", text }], isError: true };
}
