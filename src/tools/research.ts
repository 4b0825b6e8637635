import * as z from "zod";
import type { ModelRef } from "../model-name.js";
import type { ThinkLevel } from "../upstream/endpoint.js";
import { throwIfAborted } from "../upstream/signals.js";
import type { ChatMessage, ChatReply, Route } from "../upstream/upstream.js";
import { defineTool, READ_ONLY_OPEN_WORLD, type ToolContext } from "./define-tool.js";
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

/** The settings this tool reads. */
const READS = ["researchResultChars", "researchTimeLimitMs", "researchMaxCallsPerRound"] as const;
type Context = ToolContext<(typeof READS)[number]>;

export const research = defineTool({
  name: "research",
  settings: READS,
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
    context.client.checkModel(input.model);
    const run = new ResearchRun(input, context);
    const { answer, stoppedBy } = await run.toTheEnd();
    const final = run.lastReply;
    context.logFields.model = final.model;
    context.logFields.stopped_by = stoppedBy;
    const sources = run.sources.list();
    return {
      structured: {
        question: input.question,
        model: final.model,
        answer,
        sources,
        steps: run.runner.steps,
        stopped_by: stoppedBy,
        usage: { ...run.usage, searches: run.runner.searches, page_fetches: run.runner.fetches },
        route: final.route,
      },
      text: renderAnswer(answer, sources, stoppedBy),
    };
  },
});

type StoppedBy = "answer" | "max_steps" | "time_limit";
type Input = {
  question: string;
  model?: ModelRef | undefined;
  max_steps: number;
  think?: ThinkLevel | undefined;
};

/**
 * One research call: rounds of asking the model (with the search and fetch tools) and running
 * the tool calls it asks for, until it answers, runs out of rounds or of time; then, if it has
 * not answered, asking it for its best answer from what was found.
 */
class ResearchRun {
  readonly sources = new SourceBook();
  readonly runner: ToolRunner;
  readonly usage = { prompt_tokens: 0, output_tokens: 0, model_calls: 0 };
  private readonly messages: ChatMessage[];
  /** The time limit stops tool calls while they run, not only between rounds. */
  private readonly deadline = new AbortController();
  private last: (ChatReply & { route: Route }) | undefined;
  /** Progress counts events (rounds, tool calls, the answer): how many there will be is unknown. */
  private events = 0;

  constructor(
    private readonly input: Input,
    private readonly context: Context,
  ) {
    const { client, clock, call, config } = context;
    this.runner = new ToolRunner({
      client,
      clock,
      call,
      sources: this.sources,
      policy: new UrlPolicy(input.question),
      budget: config.researchResultChars,
    });
    this.messages = [
      {
        role: "system",
        content: researchSystemPrompt(new Date(clock.now()).toISOString().slice(0, 10)),
      },
      { role: "user", content: input.question },
    ];
  }

  get lastReply(): ChatReply & { route: Route } {
    return this.last as ChatReply & { route: Route };
  }

  async toTheEnd(): Promise<{ answer: string; stoppedBy: StoppedBy }> {
    const { clock, config } = this.context;
    const cancelDeadline = clock.schedule(config.researchTimeLimitMs, () => this.deadline.abort());
    let outcome: { answer?: string; stoppedBy: StoppedBy };
    try {
      outcome = await this.rounds();
    } finally {
      cancelDeadline();
    }
    let answer = outcome.answer;
    if (answer === undefined) {
      this.report("writing the answer");
      this.messages.push({ role: "user", content: FINAL_ANSWER_PROMPT });
      answer = (await this.ask(false)).content;
    }
    this.report("done");
    return { answer: answer.trim(), stoppedBy: outcome.stoppedBy };
  }

  private async rounds(): Promise<{ answer?: string; stoppedBy: StoppedBy }> {
    const max = this.input.max_steps;
    for (let round = 1; round <= max; round++) {
      if (this.deadline.signal.aborted) return { stoppedBy: "time_limit" };
      this.report(`round ${round} of at most ${max}: asking the model`);
      const reply = await this.ask(true);
      if (reply.tool_calls.length === 0) return { answer: reply.content, stoppedBy: "answer" };
      this.messages.push({
        role: "assistant",
        content: reply.content,
        tool_calls: reply.tool_calls,
      });
      await this.runToolCalls(round, reply.tool_calls);
      if (this.deadline.signal.aborted) return { stoppedBy: "time_limit" };
    }
    return { stoppedBy: "max_steps" };
  }

  /** The calls of one reply run at once; their sources and messages keep the reply's order. */
  private async runToolCalls(round: number, toolCalls: ChatReply["tool_calls"]): Promise<void> {
    const perRound = this.context.config.researchMaxCallsPerRound;
    const signal = this.deadline.signal;
    const runs = toolCalls
      .slice(0, perRound)
      .map((toolCall) => (signal.aborted ? undefined : this.runner.run(toolCall, signal)));
    for (const [i, toolCall] of toolCalls.entries()) {
      const run = runs[i];
      const ran = run && (await run);
      throwIfAborted(this.context.call.signal);
      if (!ran) {
        this.messages.push({
          role: "tool",
          tool_name: toolCall.function.name,
          content:
            i >= perRound
              ? `Error: not run: at most ${perRound} tool calls are run per round; ask again for the ones you still need.`
              : "Error: not run: the research time limit was reached.",
        });
        continue;
      }
      const result = this.runner.record(ran);
      this.messages.push({ role: "tool", tool_name: result.name, content: result.content });
      this.report(`round ${round}: ${ran.step.tool} ${ran.step.ok ? "done" : "failed"}`);
    }
  }

  private async ask(withTools: boolean): Promise<ChatReply & { route: Route }> {
    const { client, call } = this.context;
    throwIfAborted(call.signal);
    const reply = await client.chat(
      {
        model: this.input.model,
        messages: this.messages,
        think: this.input.think,
        ...(withTools && { tools: RESEARCH_TOOL_SPECS }),
      },
      call,
    );
    this.usage.prompt_tokens += reply.usage.prompt_tokens;
    this.usage.output_tokens += reply.usage.output_tokens;
    this.usage.model_calls++;
    this.last = reply;
    return reply;
  }

  private report(message: string): void {
    this.context.progress.report(++this.events, message, { force: true });
  }
}

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
