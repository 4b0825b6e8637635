import type { CallToolResult } from "@modelcontextprotocol/server";
import * as z from "zod";
import { describeDuration } from "../duration.js";
import type { JobProgress, JobState } from "../jobs/jobs.js";
import { defineTool, ToolFailure } from "./define-tool.js";
import {
  anyJsonValue,
  integerField,
  jobIdField,
  jobProgressSchema,
  strictArguments,
} from "./fields.js";

export const getResult = defineTool({
  name: "get_result",
  settings: ["deferAfterMs", "jobTtlMs"],
  summary: 'the answer of a long call that returned status "running" with a job_id.',
  handlesJobs: true,
  title: "Get the result of a long call",
  description: (config) =>
    `Get the answer of a cloud_chat, search_and_summarize, research or consensus call that returned status "running" with a job_id because it was taking long. Waits up to wait_ms (at most ${describeDuration(config.deferAfterMs)}, the default) for it: returns the call's full result once it is done, or another "running" result with the latest progress; then call get_result again. Results are kept for ${describeDuration(config.jobTtlMs)} and can be read more than once.`,
  inputSchema: strictArguments(
    {
      job_id: jobIdField,
      wait_ms: integerField("wait_ms", 0, 3_600_000)
        .optional()
        .describe(
          "How long to wait for the job, in ms: 0 to the server's defer time (default: that time).",
        ),
    },
    "get_result",
  ),
  outputSchema: z
    .object({
      status: z
        .enum(["running", "done"])
        .describe(
          '"done": the fields of the original tool\'s result follow. "running": call again.',
        ),
      job_id: z.string(),
      progress: jobProgressSchema.optional(),
    })
    .catchall(anyJsonValue)
    .describe("The original tool's result with status and job_id, or a running handle."),
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  async handle(input, { jobs, caller, call, progress, clock }) {
    const limit = jobs.config.deferAfterMs;
    const waitMs = input.wait_ms ?? limit;
    if (waitMs > limit) {
      throw new ToolFailure(
        `wait_ms must be an integer from 0 to ${limit} (OLLAMA_MCP_DEFER_AFTER_MS): waiting longer risks the client's own time limit.`,
      );
    }
    const state = await jobs.wait(
      caller.owner,
      input.job_id,
      waitMs,
      progress,
      call.signal ?? new AbortController().signal,
    );
    if (state.kind === "running") {
      return { raw: runningResult(state.tool, { id: input.job_id, ...state }, clock.now(), limit) };
    }
    if (state.kind === "done") return { raw: withJobId(state.result, input.job_id) };
    throw new ToolFailure(jobProblem(input.job_id, state, jobs.config.ttlMs));
  },
});

/** What to tell the owner of a job that has no result to give. */
export function jobProblem(id: string, state: JobState, ttlMs: number): string {
  switch (state.kind) {
    case "expired":
      return `Job "${id}" has expired: results are kept for ${describeDuration(ttlMs)} (OLLAMA_MCP_JOB_TTL_MS). Run the call again.`;
    case "cancelled":
      return `Job "${id}" (${state.tool}) was cancelled, so it has no result. Run the call again if you still need it.`;
    case "lost":
      return `Job "${id}" (${state.tool}) was lost: the server running it stopped before it finished. Run the call again.`;
    default: {
      const recovering =
        state.kind === "unknown" && state.storeRecovering
          ? " The job store came back from an outage moments ago, and the server running a job writes it again: if this job was yours, try again in a few seconds."
          : "";
      return `Unknown job_id "${id}": no job with this id belongs to you (a job_id comes from a call that returned status "running").${recovering} Run the call again.`;
    }
  }
}

/** The answer to a call (or a get_result) whose work is still going on. */
export function runningResult(
  tool: string,
  job: { id: string; startedAt: number; progress: JobProgress | undefined; writing?: boolean },
  now: number,
  waitMs: number,
): CallToolResult {
  const elapsed = now - job.startedAt;
  const step = job.progress?.message;
  const text = job.writing
    ? `${tool} has finished; its result is being written to the job store, which could not take it yet. Call get_result again in a moment with job_id "${job.id}".`
    : `${tool} is still working (${describeDuration(elapsed)} so far${step ? `; latest: ${step}` : ""}). Call get_result with job_id "${job.id}" to get the answer: it waits up to ${describeDuration(waitMs)} for it each time. cancel_job stops it.`;
  return {
    content: [{ type: "text", text }],
    structuredContent: {
      status: "running",
      job_id: job.id,
      progress: { elapsed_ms: elapsed, ...(step !== undefined && { message: step }) },
    },
  };
}

function withJobId(result: CallToolResult, id: string): CallToolResult {
  if (!result.structuredContent) return result;
  return { ...result, structuredContent: { ...result.structuredContent, job_id: id } };
}
