/** Every tool this server has, in the order tools/list gives them. */
export const TOOL_NAMES = [
  "cloud_chat",
  "web_search",
  "search_and_summarize",
  "web_fetch",
  "list_models",
  "research",
  "consensus",
  "get_result",
  "cancel_job",
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

/** Tools whose calls may be deferred to a job: they bring get_result and cancel_job with them. */
export const LONG_TOOLS: readonly ToolName[] = [
  "cloud_chat",
  "search_and_summarize",
  "research",
  "consensus",
];
export const JOB_TOOLS: readonly ToolName[] = ["get_result", "cancel_job"];
