import * as z from "zod";
import { defineTool, ToolFailure } from "./define-tool.js";
import { jobIdField, strictArguments } from "./fields.js";
import { jobProblem } from "./get-result.js";

export const cancelJob = defineTool({
  name: "cancel_job",
  settings: [],
  summary: "stop a long call, and its request to Ollama, by its job_id.",
  handlesJobs: true,
  title: "Stop a long call",
  description:
    'Stop a deferred call (one that returned status "running" with a job_id) at once, with its request to Ollama. Says whether it was running, had already finished (its result stays readable with get_result), or is unknown.',
  inputSchema: strictArguments({ job_id: jobIdField }, "cancel_job"),
  outputSchema: z.object({
    job_id: z.string(),
    was: z
      .enum(["running", "finished", "cancelled", "lost"])
      .describe(
        "running: it was stopped now; finished: it had already ended; cancelled: it was stopped before; lost: its server stopped.",
      ),
    tool: z.string(),
  }),
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  async handle({ job_id }, { jobs, caller }) {
    const state = await jobs.cancel(caller.owner, job_id);
    if (state.kind === "unknown" || state.kind === "expired") {
      throw new ToolFailure(jobProblem(job_id, state, jobs.config.ttlMs));
    }
    const was = state.kind === "done" ? ("finished" as const) : state.kind;
    const text = {
      running: `Stopped job "${job_id}" (${state.tool}): it was still running, and its request to Ollama was closed.`,
      finished: `Job "${job_id}" (${state.tool}) had already finished; get_result returns its result until it expires.`,
      cancelled: `Job "${job_id}" (${state.tool}) was already cancelled.`,
      lost: `Job "${job_id}" (${state.tool}) was lost when its server stopped; there is nothing to stop.`,
    }[was];
    return { structured: { job_id, was, tool: state.tool }, text };
  },
});
