import * as z from "zod";
import type { Clock } from "../clock.js";
import { linkSignals } from "../upstream/signals.js";
import type {
  CallOptions,
  ToolCall,
  ToolSpec,
  Upstream,
  WebPage,
  WebSearchHit,
} from "../upstream/upstream.js";
import { MAX_SEARCH_RESULTS, queryField, urlField } from "./fields.js";
import type { UrlPolicy } from "./url-policy.js";

const searchArgs = z.object({
  query: queryField.describe("What to search for."),
  // A model's slip here (a string, an out-of-range number) costs it the default, not the call.
  max_results: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_SEARCH_RESULTS)
    .catch(5)
    .default(5)
    .describe("How many results (default 5)."),
});
const fetchArgs = z.object({
  url: urlField.describe("An absolute http:// or https:// URL."),
});

/** The two tools the research loop offers its model, named as in Ollama's own examples. */
export const RESEARCH_TOOL_SPECS: ToolSpec[] = [
  toolSpec(
    "web_search",
    "Search the web. Returns numbered results with their URL and the relevant page text.",
    searchArgs,
  ),
  toolSpec("web_fetch", "Read one web page in full (as markdown), by its http(s) URL.", fetchArgs),
];

function toolSpec(name: string, description: string, schema: z.ZodObject): ToolSpec {
  const { $schema: _, ...parameters } = z.toJSONSchema(schema, { io: "input" });
  return { type: "function", function: { name, description, parameters } };
}

export interface Source {
  index: number;
  title: string;
  url: string;
}

export interface Step {
  tool: string;
  query?: string;
  url?: string;
  ok: boolean;
  ms: number;
  /** Set when the call repeated an earlier one and was answered from it. */
  repeated?: boolean;
  error?: string;
}

/** Numbers every page the answer may cite, in the order found, once per URL. */
export class SourceBook {
  private readonly byUrl = new Map<string, Source>();

  add(title: string, url: string): Source {
    const existing = this.byUrl.get(url);
    if (existing) {
      if (!existing.title && title) existing.title = title;
      return existing;
    }
    const source = { index: this.byUrl.size + 1, title, url };
    this.byUrl.set(url, source);
    return source;
  }

  list(): Source[] {
    return [...this.byUrl.values()];
  }
}

export interface ToolRunnerDeps {
  client: Upstream;
  clock: Clock;
  call: CallOptions;
  sources: SourceBook;
  policy: UrlPolicy;
  /** Characters of one result handed back to the model. */
  budget: number;
}

/** What running one tool call produced, before its sources are numbered. */
type Outcome =
  | { kind: "search"; query: string; hits: WebSearchHit[] }
  | { kind: "fetch"; url: string; page: WebPage }
  | { kind: "error"; message: string };

/** A tool call that has run (or been refused), waiting to be recorded in reply order. */
export interface Ran {
  name: string;
  step: Step;
  outcome: Outcome;
}

/**
 * Runs the model's tool calls through the same upstream client the public tools use. A failing,
 * refused, unknown or badly argued call becomes that tool's result, with the error, and the loop
 * goes on. Running and recording are separate: calls of one reply may run at once, and are
 * recorded (their sources numbered, their steps listed) in the reply's order.
 */
export class ToolRunner {
  /** Calls already made, by their arguments: a repeated one is answered from the first. */
  private readonly made = new Map<string, Promise<Outcome>>();
  readonly steps: Step[] = [];
  searches = 0;
  fetches = 0;

  constructor(private readonly deps: ToolRunnerDeps) {}

  /** Runs one call; `signal` also stops it (the research time limit). Never rejects but on cancel. */
  async run(toolCall: ToolCall, signal?: AbortSignal): Promise<Ran> {
    const { name, arguments: args } = toolCall.function;
    const started = this.deps.clock.now();
    const step: Step = { tool: name || "(unnamed)", ok: false, ms: 0 };
    const ran = (outcome: Outcome): Ran => {
      step.ms = this.deps.clock.now() - started;
      step.ok = outcome.kind !== "error";
      if (outcome.kind === "error") step.error = outcome.message;
      return { name, step, outcome };
    };

    if (name === "web_search") {
      const parsed = searchArgs.safeParse(args);
      if (!parsed.success) return ran({ kind: "error", message: issues(parsed.error) });
      const { query, max_results } = parsed.data;
      step.query = query;
      return ran(
        await this.once(`search\u0000${max_results}\u0000${query}`, step, signal, async (call) => {
          this.searches++;
          const { results } = await this.deps.client.webSearch(query, max_results, call);
          return { kind: "search", query, hits: results };
        }),
      );
    }
    if (name === "web_fetch") {
      const parsed = fetchArgs.safeParse(args);
      step.url = typeof args.url === "string" ? args.url : undefined;
      if (!parsed.success) return ran({ kind: "error", message: issues(parsed.error) });
      const { url } = parsed.data;
      step.url = url;
      const refusal = this.deps.policy.refusal(url);
      if (refusal) return ran({ kind: "error", message: `not fetched: ${refusal}` });
      return ran(
        await this.once(`fetch\u0000${url}`, step, signal, async (call) => {
          this.fetches++;
          const { page } = await this.deps.client.webFetch(url, call);
          return { kind: "fetch", url, page };
        }),
      );
    }
    return ran({
      kind: "error",
      message: `unknown tool "${name}"; the tools are web_search and web_fetch`,
    });
  }

  /** Numbers the sources of a call that ran and lists its step; returns the tool message. */
  record({ name, step, outcome }: Ran): { name: string; content: string } {
    this.steps.push(step);
    const { sources, policy, budget } = this.deps;
    let content: string;
    if (outcome.kind === "error") {
      content = `Error: ${outcome.message}`;
    } else if (outcome.kind === "search") {
      const { hits, query } = outcome;
      const perResult = Math.max(200, Math.floor(budget / Math.max(1, hits.length)) - 200);
      for (const hit of hits) policy.allow(hit.url);
      content = hits.length
        ? hits
            .map((hit) => {
              const source = sources.add(hit.title, hit.url);
              return `[${source.index}] ${hit.title}\nURL: ${hit.url}\n${cutTo(hit.content, perResult)}`;
            })
            .join("\n\n")
        : `No results for "${query}".`;
    } else {
      const { page, url } = outcome;
      for (const link of page.links) policy.allow(link);
      const source = sources.add(page.title, url);
      content = `[${source.index}] ${page.title}\nURL: ${url}\n${page.content}`;
    }
    return { name, content: cutTo(content, budget) };
  }

  private async once(
    key: string,
    step: Step,
    signal: AbortSignal | undefined,
    work: (call: CallOptions) => Promise<Outcome>,
  ): Promise<Outcome> {
    const earlier = this.made.get(key);
    if (earlier) {
      step.repeated = true;
      return earlier;
    }
    const { call } = this.deps;
    const linked = linkSignals([call.signal, signal]);
    const outcome = work({ ...call, signal: linked.signal })
      .catch((error: unknown): Outcome => {
        if (call.signal?.aborted) throw error;
        if (signal?.aborted)
          return { kind: "error", message: "stopped: the research time limit was reached" };
        return { kind: "error", message: error instanceof Error ? error.message : String(error) };
      })
      .finally(linked.dispose);
    this.made.set(key, outcome);
    const result = await outcome;
    // A failure is not an answer to repeat: the model may try the same call again.
    if (result.kind === "error") this.made.delete(key);
    return result;
  }
}

/** Cuts text to `limit` characters, saying so, so the model knows it saw only part. */
export function cutTo(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const note = `\n[cut: ${limit} of ${text.length} characters shown]`;
  return `${text.slice(0, Math.max(0, limit - note.length))}${note}`;
}

function issues(error: z.ZodError): string {
  return error.issues.map((issue) => issue.message).join("; ");
}
