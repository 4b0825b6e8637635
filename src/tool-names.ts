import { ConfigError, list, nearest } from "./setting.js";

/**
 * The tools' names, in the order tools/list gives them: what OLLAMA_MCP_TOOLS may name. A tool's
 * definition can only take one of these names, and a test holds this list to the definitions.
 * The settings read it here, so reading them loads no tool.
 */
export const TOOL_NAMES = [
  "cloud_chat",
  "web_search",
  "search_and_summarize",
  "web_fetch",
  "list_models",
  "research",
  "consensus",
  "cloud_usage",
  "get_result",
  "cancel_job",
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

/**
 * OLLAMA_MCP_TOOLS: a comma list of tool names, or all of them. Unset (or blank) means all; a
 * value that names no tool at all is a mistake, not "all".
 */
export function selectTools(value: string | undefined, name: string): readonly ToolName[] {
  if (value === undefined) return TOOL_NAMES;
  const names = list(value).map((each) => each.toLowerCase());
  if (names.length === 1 && names[0] === "all") return TOOL_NAMES;
  if (names.length === 0) {
    throw new ConfigError(
      `${name} names no tool ("${value}"): give a comma-separated list of ${TOOL_NAMES.join(", ")}, or all.`,
    );
  }
  const unknown = names.filter((each) => !(TOOL_NAMES as readonly string[]).includes(each));
  if (unknown.length > 0) {
    const guesses = unknown.flatMap((each) => {
      const near = nearest(each, TOOL_NAMES);
      return near ? [`"${each}" is maybe ${near}`] : [];
    });
    throw new ConfigError(
      `${name} names ${unknown.map((n) => `"${n}"`).join(", ")}, which this server does not have; the tools are: ${TOOL_NAMES.join(", ")}.${guesses.length > 0 ? ` (${guesses.join("; ")}?)` : ""}`,
    );
  }
  return TOOL_NAMES.filter((each) => names.includes(each));
}
