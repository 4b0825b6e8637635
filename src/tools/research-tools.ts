import * as z from "zod";
import type { Clock } from "../clock.js";
import type { CallOptions, ToolCall, ToolSpec, Upstream } from "../upstream/upstream.js";
import { MAX_SEARCH_RESULTS, queryField, urlField } from "./fields.js";

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
  /** Characters of one result handed back to the model. */
  budget: number;
}

/**
 * Runs the model's tool calls through the same upstream client the public tools use. A failing,
 * unknown or badly argued call becomes that tool's result, with the error, and the loop goes on.
 */
export class ToolRunner {
  private readonly answered = new Map<string, string>();
  readonly steps: Step[] = [];
  searches = 0;
  fetches = 0;

  constructor(private readonly deps: ToolRunnerDeps) {}

  async run(toolCall: ToolCall): Promise<{ name: string; content: string }> {
    const { name, arguments: args } = toolCall.function;
    const started = this.deps.clock.now();
    const step: Step = { tool: name || "(unnamed)", ok: false, ms: 0 };
    this.steps.push(step);
    const finish = (content: string, ok: boolean, error?: string) => {
      step.ok = ok;
      step.ms = this.deps.clock.now() - started;
      if (error) step.error = error;
      return { name, content: this.cut(content) };
    };

    if (name === "web_search") {
      const parsed = searchArgs.safeParse(args);
      if (parsed.success) step.query = parsed.data.query;
      if (!parsed.success)
        return finish(`Error: ${issues(parsed.error)}`, false, issues(parsed.error));
      return this.once(
        `search\u0000${parsed.data.max_results}\u0000${parsed.data.query}`,
        step,
        finish,
        () => this.search(parsed.data.query, parsed.data.max_results),
      );
    }
    if (name === "web_fetch") {
      const parsed = fetchArgs.safeParse(args);
      step.url = typeof args.url === "string" ? args.url : undefined;
      if (!parsed.success)
        return finish(`Error: ${issues(parsed.error)}`, false, issues(parsed.error));
      step.url = parsed.data.url;
      return this.once(`fetch\u0000${parsed.data.url}`, step, finish, () =>
        this.fetch(parsed.data.url),
      );
    }
    const error = `unknown tool "${name}"; the tools are web_search and web_fetch`;
    return finish(`Error: ${error}`, false, error);
  }

  /** A repeated identical call is answered from what the loop already has. */
  private async once(
    key: string,
    step: Step,
    finish: (content: string, ok: boolean, error?: string) => { name: string; content: string },
    work: () => Promise<string>,
  ) {
    const earlier = this.answered.get(key);
    if (earlier !== undefined) {
      step.repeated = true;
      return finish(earlier, true);
    }
    try {
      const content = await work();
      this.answered.set(key, content);
      return finish(content, true);
    } catch (error) {
      if (this.deps.call.signal?.aborted) throw error;
      const message = error instanceof Error ? error.message : String(error);
      return finish(`Error: ${message}`, false, message);
    }
  }

  private async search(query: string, maxResults: number): Promise<string> {
    this.searches++;
    const { results } = await this.deps.client.webSearch(query, maxResults, this.deps.call);
    if (results.length === 0) return `No results for "${query}".`;
    const perResult = Math.max(200, Math.floor(this.deps.budget / results.length) - 200);
    return results
      .map((hit) => {
        const source = this.deps.sources.add(hit.title, hit.url);
        return `[${source.index}] ${hit.title}\nURL: ${hit.url}\n${cutTo(hit.content, perResult)}`;
      })
      .join("\n\n");
  }

  private async fetch(url: string): Promise<string> {
    this.fetches++;
    const { page } = await this.deps.client.webFetch(url, this.deps.call);
    const source = this.deps.sources.add(page.title, url);
    return `[${source.index}] ${page.title}\nURL: ${url}\n${page.content}`;
  }

  private cut(content: string): string {
    return cutTo(content, this.deps.budget);
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
