import * as z from "zod";
import { throwIfAborted } from "../upstream/signals.js";
import type { ChatMessage, ChatReply, Route } from "../upstream/upstream.js";
import { defineTool, READ_ONLY_OPEN_WORLD } from "./define-tool.js";
import {
  deferrable,
  integerField,
  modelField,
  multiCallUsageSchema,
  routeSchema,
  strictArguments,
  textField,
  thinkField,
} from "./fields.js";
import { FINAL_ANSWER_PROMPT, researchSystemPrompt } from "./research-prompts.js";
import { RESEARCH_TOOL_SPECS, SourceBook, ToolRunner } from "./research-tools.js";
import { UrlPolicy } from "./url-policy.js";

const stepSchema = z.object({
  tool: z.string(),
  query: z.string().optional(),
  url: z.string().optional(),
  ok: z.boolean(),
  ms: z.number(),
  repeated: z.boolean().optional(),
  error: z.string().optional(),
});

export const research = defineTool({
  name: "research",
  summary: "let a big model search and read the web itself, then answer with [n] citations.",
  title: "Research a question on the web, with citations",
  description:
    "Answer a question with a large cloud model that decides for itself what to search and which pages to read (Ollama web search and fetch), then writes a markdown answer with numbered citations [n] to the listed sources. Use it for questions that need several searches or careful reading; use search_and_summarize for a quick one-search overview. Returns the answer, its sources, every step taken and why it stopped.",
  inputSchema: strictArguments(
    {
      question: textField("question", 4_000).describe("The question to research."),
      model: modelField.optional(),
      max_steps: integerField("max_steps", 1, 20)
        .default(8)
        .describe(
          "Model rounds that may call tools (1-20, default 8); then the model must answer.",
        ),
      think: thinkField.optional(),
    },
    "research",
  ),
  outputSchema: deferrable(
    z.object({
      question: z.string(),
      model: z.string(),
      answer: z.string().describe("Markdown answer citing sources as [n]."),
      sources: z
        .array(z.object({ index: z.number().int(), title: z.string(), url: z.string() }))
        .describe(
          "Every page the answer may cite: search hits and fetched pages, in the order found.",
        ),
      steps: z.array(stepSchema),
      stopped_by: z
        .enum(["answer", "max_steps", "time_limit"])
        .describe(
          "answer: the model finished; max_steps or time_limit: it was asked for its best answer.",
        ),
      usage: multiCallUsageSchema,
      route: routeSchema,
    }),
  ),
  annotations: READ_ONLY_OPEN_WORLD,
  long: true,
  async handle(input, context) {
    const { client, config, call, progress, clock } = context;
    client.checkModel(input.model);
    const started = clock.now();
    const sources = new SourceBook();
    const runner = new ToolRunner({
      client,
      clock,
      call,
      sources,
      policy: new UrlPolicy(input.question),
      budget: config.researchResultChars,
    });
    // The time limit stops tool calls while they run, not only between rounds.
    const deadline = new AbortController();
    const cancelDeadline = clock.schedule(config.researchTimeLimitMs, () => deadline.abort());
    const usage = { prompt_tokens: 0, output_tokens: 0, model_calls: 0 };
    const messages: ChatMessage[] = [
      {
        role: "system",
        content: researchSystemPrompt(new Date(started).toISOString().slice(0, 10)),
      },
      { role: "user", content: input.question },
    ];
    // Progress counts events (rounds, tool calls, the answer): how many there will be is unknown.
    let events = 0;
    const report = (message: string) => progress.report(++events, message, { force: true });
    let last: (ChatReply & { route: Route }) | undefined;

    const ask = async (withTools: boolean) => {
      throwIfAborted(call.signal);
      const reply = await client.chat(
        {
          model: input.model,
          messages,
          think: input.think,
          ...(withTools && { tools: RESEARCH_TOOL_SPECS }),
        },
        call,
      );
      usage.prompt_tokens += reply.usage.prompt_tokens;
      usage.output_tokens += reply.usage.output_tokens;
      usage.model_calls++;
      last = reply;
      return reply;
    };

    let stoppedBy: "answer" | "max_steps" | "time_limit" = "max_steps";
    let answer: string | undefined;
    const perRound = config.researchMaxCallsPerRound;
    try {
      for (let round = 1; round <= input.max_steps; round++) {
        if (deadline.signal.aborted) {
          stoppedBy = "time_limit";
          break;
        }
        report(`round ${round} of at most ${input.max_steps}: asking the model`);
        const reply = await ask(true);
        if (reply.tool_calls.length === 0) {
          stoppedBy = "answer";
          answer = reply.content;
          break;
        }
        messages.push({ role: "assistant", content: reply.content, tool_calls: reply.tool_calls });
        // The calls of one reply run at once; their sources and messages keep the reply's order.
        const runs = reply.tool_calls
          .slice(0, perRound)
          .map((toolCall) =>
            deadline.signal.aborted ? undefined : runner.run(toolCall, deadline.signal),
          );
        for (const [i, toolCall] of reply.tool_calls.entries()) {
          const run = runs[i];
          const ran = run && (await run);
          throwIfAborted(call.signal);
          if (!ran) {
            messages.push({
              role: "tool",
              tool_name: toolCall.function.name,
              content:
                i >= perRound
                  ? `Error: not run: at most ${perRound} tool calls are run per round; ask again for the ones you still need.`
                  : "Error: not run: the research time limit was reached.",
            });
            continue;
          }
          const result = runner.record(ran);
          messages.push({ role: "tool", tool_name: result.name, content: result.content });
          report(`round ${round}: ${ran.step.tool} ${ran.step.ok ? "done" : "failed"}`);
        }
        if (deadline.signal.aborted) {
          stoppedBy = "time_limit";
          break;
        }
      }
    } finally {
      cancelDeadline();
    }
    if (answer === undefined) {
      report("writing the answer");
      messages.push({ role: "user", content: FINAL_ANSWER_PROMPT });
      answer = (await ask(false)).content;
    }
    report("done");

    const final = last as ChatReply & { route: Route };
    context.logFields.model = final.model;
    context.logFields.stopped_by = stoppedBy;
    const sourceList = sources.list();
    return {
      structured: {
        question: input.question,
        model: final.model,
        answer: answer.trim(),
        sources: sourceList,
        steps: runner.steps,
        stopped_by: stoppedBy,
        usage: { ...usage, searches: runner.searches, page_fetches: runner.fetches },
        route: final.route,
      },
      text: renderAnswer(answer.trim(), sourceList, stoppedBy),
    };
  },
});

function renderAnswer(
  answer: string,
  sources: { index: number; title: string; url: string }[],
  stoppedBy: string,
): string {
  const note =
    stoppedBy === "answer"
      ? ""
      : `\n\n(Stopped by ${stoppedBy.replace("_", " ")}: best answer from what was found.)`;
  if (sources.length === 0) return `${answer}${note}`;
  const list = sources.map((s) => `[${s.index}] ${s.title || s.url} — ${s.url}`).join("\n");
  return `${answer}${note}\n\nSources:\n${list}`;
}
