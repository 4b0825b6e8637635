/** The tool surface, in the order tools/list gives it; pinned on purpose, so a change shows here. */
export const TOOL_NAMES = [
  "cloud_chat",
  "web_search",
  "search_and_summarize",
  "web_fetch",
  "list_models",
  "research",
  "get_result",
  "cancel_job",
] as const;
