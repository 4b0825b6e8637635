import { TOOL_NAMES, type ToolName } from "../tool-names.js";
import { cancelJob } from "./cancel-job.js";
import { cloudChat } from "./cloud-chat.js";
import { cloudUsage } from "./cloud-usage.js";
import { consensus } from "./consensus.js";
import type { ToolDefinition } from "./define-tool.js";
import { getResult } from "./get-result.js";
import { listModels } from "./list-models.js";
import { research } from "./research.js";
import { searchAndSummarize } from "./search-and-summarize.js";
import { webFetch } from "./web-fetch.js";
import { webSearch } from "./web-search.js";

/**
 * Every tool, in the order tools/list gives them (and ../tool-names.ts names them). Everything
 * else that lists tools (which are long, --help, the docs) is derived from this.
 */
const DEFINED = [
  cloudChat,
  webSearch,
  searchAndSummarize,
  webFetch,
  listModels,
  research,
  consensus,
  cloudUsage,
  getResult,
  cancelJob,
] as const;

export { TOOL_NAMES, type ToolName };

export const TOOLS = DEFINED as unknown as readonly ToolDefinition<
  ToolDefinition["inputSchema"],
  ToolDefinition["outputSchema"],
  ToolName
>[];

/** Tools whose calls may be deferred to a job. */
export const LONG_TOOLS: readonly ToolName[] = TOOLS.filter((t) => t.long).map((t) => t.name);

/** Tools that work on jobs: they come with any long tool. */
export const JOB_TOOLS: readonly ToolName[] = TOOLS.filter((t) => t.handlesJobs).map((t) => t.name);
