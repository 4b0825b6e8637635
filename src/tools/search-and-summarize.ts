import * as z from "zod";
import { settleWithConcurrency } from "../concurrency.js";
import type { ModelRef } from "../model-name.js";
import type { CallOptions, Route, Upstream, WebSearchHit } from "../upstream/upstream.js";
import { defineTool, READ_ONLY_OPEN_WORLD, type ToolContext, ToolFailure } from "./define-tool.js";
import {
  deferrable,
  type MultiCallUsage,
  maxResultsField,
  modelField,
  multiCallUsageSchema,
  queryField,
  routeSchema,
  strictArguments,
} from "./fields.js";
import {
  type SummaryLength,
  SYNTHESIS_SYSTEM_PROMPT,
  summarySystemPrompt,
  summaryUserPrompt,
  synthesisUserPrompt,
} from "./research-prompts.js";

/** Search results shorter than this are fetched in full (when fetch_full_pages allows). */
export const THIN_CONTENT_CHARS = 400;
/** The most page text sent to a model for one summary. */
export const MAX_PAGE_CHARS = 24_000;

const sourceSchema = z.object({
  index: z.number().int().describe("Citation number: [index] in the answer refers to this source."),
  title: z.string(),
  url: z.string(),
  summary: z.string().optional().describe("Plain-text summary of the page."),
  error: z.string().optional().describe("Why this source has no summary."),
  fetched: z
    .boolean()
    .optional()
    .describe("True when the full page was fetched because the search result was thin."),
});

type Source = z.infer<typeof sourceSchema>;

type Usage = MultiCallUsage;

/** The settings this tool reads. */
const READS = ["defaultModel", "summaryConcurrency"] as const;
type Context = ToolContext<(typeof READS)[number]>;

export const searchAndSummarize = defineTool({
  name: "search_and_summarize",
  settings: READS,
  summary: "search the web, summarise each result, and get one answer with [n] citations.",
  title: "Search the web and answer with citations",
  description:
    "Research a question on the live web: search with Ollama's web search, summarise every result with a cloud model in parallel (fetching full pages when a result is thin), then write one answer with numbered citations [1]..[n] that map to the returned sources. Use it when you need a grounded, current answer rather than raw pages. Set synthesize=false to get only the per-source summaries.",
  inputSchema: strictArguments(
    {
      query: queryField,
      max_results: maxResultsField,
      model: modelField.optional(),
      summary_length: z
        .enum(["short", "medium", "long"], {
          error: 'summary_length must be "short", "medium" or "long"',
        })
        .default("medium")
        .describe(
          'Length of each summary: "short" (~50 words), "medium" (~120, default) or "long" (~250).',
        ),
      fetch_full_pages: z
        .boolean({ error: "fetch_full_pages must be true or false" })
        .default(true)
        .describe(
          `Fetch the whole page (web fetch) when a search result has under ${THIN_CONTENT_CHARS} characters of content (default true).`,
        ),
      synthesize: z
        .boolean({ error: "synthesize must be true or false" })
        .default(true)
        .describe(
          "Write one cited answer from the summaries (default true); false returns only the summaries.",
        ),
    },
    "search_and_summarize",
  ),
  outputSchema: deferrable(
    z.object({
      query: z.string(),
      model: z.string(),
      answer: z
        .string()
        .optional()
        .describe(
          "Markdown answer citing sources as [n]; absent when synthesize is false or synthesis failed.",
        ),
      sources: z.array(sourceSchema),
      usage: multiCallUsageSchema,
      routes: z.object({
        search: routeSchema,
        model: routeSchema.optional().describe("Where the summaries ran (absent when none did)."),
      }),
      warnings: z.array(z.string()).optional(),
    }),
  ),
  annotations: READ_ONLY_OPEN_WORLD,
  long: true,
  async handle(input, context) {
    const { client, config, call, progress } = context;
    // A model the cloud does not have would fail only after the search was spent.
    await client.ensureModel(input.model, call);
    const ran: { model?: string; route?: Route } = {};
    const usage: Usage = {
      prompt_tokens: 0,
      output_tokens: 0,
      model_calls: 0,
      searches: 1,
      page_fetches: 0,
    };

    progress.report(0, "searching the web", { force: true });
    const { results: hits, route: searchRoute } = await client.webSearch(
      input.query,
      input.max_results,
      call,
    );
    const total = hits.length + (input.synthesize ? 2 : 1);
    progress.report(1, `found ${hits.length} results; summarising`, { total, force: true });

    const sources = await summarizeAll(context, input, hits, usage, ran, total);
    const summarized = sources.filter(
      (source): source is Source & { summary: string } => source.summary !== undefined,
    );
    const warnings: string[] = [];
    let answer: string | undefined;
    if (input.synthesize && summarized.length > 0) {
      progress.report(total - 0.5, "writing the answer", { total, force: true });
      const written = await citedAnswer(context, input, summarized, usage);
      answer = written.answer;
      warnings.push(...written.warnings);
      progress.report(total, "done", { total, force: true });
    }

    const model = ran.model ?? input.model?.base ?? config.defaultModel;
    context.logFields.model = model;
    return {
      structured: {
        query: input.query,
        model,
        ...(answer !== undefined && { answer }),
        sources,
        usage,
        routes: { search: searchRoute, ...(ran.route && { model: ran.route }) },
        ...(warnings.length > 0 && { warnings }),
      },
      text: renderMarkdown(input.query, answer, sources, warnings),
    };
  },
});

/** Each hit summarised, a few at a time; a hit that failed says why, in its place. */
async function summarizeAll(
  context: Context,
  input: SummaryOptions,
  hits: WebSearchHit[],
  usage: Usage,
  ran: { model?: string; route?: Route },
  total: number,
): Promise<Source[]> {
  let finished = 0;
  const settled = await settleWithConcurrency(
    hits,
    context.config.summaryConcurrency,
    async (hit) => {
      try {
        return await summarizeHit(context, input, hit, usage, ran);
      } finally {
        finished++;
        context.progress.report(1 + finished, `summarised ${finished} of ${hits.length}`, {
          total,
          force: true,
        });
      }
    },
  );
  const sources: Source[] = hits.map((hit, i) => {
    const outcome = settled[i];
    const base = { index: i + 1, title: hit.title, url: hit.url };
    if (outcome?.status === "fulfilled") return { ...base, ...outcome.value };
    return { ...base, error: errorMessage(outcome?.reason) };
  });
  if (hits.length > 0 && sources.every((source) => source.summary === undefined)) {
    throw (settled.find((s) => s.status === "rejected") as PromiseRejectedResult).reason;
  }
  return sources;
}

/** One answer citing the summaries as [n]; if it cannot be written, the summaries stand. */
async function citedAnswer(
  context: Context,
  input: SummaryOptions,
  summarized: (Source & { summary: string })[],
  usage: Usage,
): Promise<{ answer?: string; warnings: string[] }> {
  const { client, call } = context;
  try {
    const reply = await client.chat(
      {
        model: input.model,
        messages: [
          { role: "system", content: SYNTHESIS_SYSTEM_PROMPT },
          { role: "user", content: synthesisUserPrompt(input.query, summarized) },
        ],
      },
      { ...call, waitForSlot: true },
    );
    addUsage(usage, reply.usage);
    const answer = reply.content.trim();
    const unknown = citedIndices(answer).filter((n) => !summarized.some((s) => s.index === n));
    return {
      answer,
      warnings: unknown.length
        ? [`the answer cites sources that do not exist: ${unknown.map((n) => `[${n}]`).join(" ")}`]
        : [],
    };
  } catch (error) {
    if (call.signal?.aborted) throw error;
    return { warnings: [`the cited answer could not be written: ${errorMessage(error)}`] };
  }
}

interface SummaryOptions {
  query: string;
  model?: ModelRef | undefined;
  summary_length: SummaryLength;
  fetch_full_pages: boolean;
}

async function summarizeHit(
  { client, call }: Pick<ToolContext, "client" | "call">,
  options: SummaryOptions,
  hit: WebSearchHit,
  usage: Usage,
  ran: { model?: string; route?: Route },
): Promise<{ summary: string; fetched?: boolean }> {
  let content = hit.content.trim();
  let fetched = false;
  if (options.fetch_full_pages && content.length < THIN_CONTENT_CHARS) {
    const page = await fetchPage(client, hit.url, call);
    usage.page_fetches++;
    if (page && page.length > content.length) {
      content = page;
      fetched = true;
    }
  }
  if (!content) throw new ToolFailure("the search result had no page content to summarise");
  const reply = await client.chat(
    {
      model: options.model,
      messages: [
        { role: "system", content: summarySystemPrompt(options.summary_length) },
        {
          role: "user",
          content: summaryUserPrompt(options.query, {
            ...hit,
            content: content.slice(0, MAX_PAGE_CHARS),
          }),
        },
      ],
    },
    // The summaries run at once: a plan that runs fewer gets the rest as slots free up.
    { ...call, waitForSlot: true },
  );
  addUsage(usage, reply.usage);
  ran.model ??= reply.model;
  ran.route ??= reply.route;
  const summary = reply.content.trim();
  if (!summary) throw new ToolFailure(`${reply.model} returned an empty summary`);
  return { summary, ...(fetched && { fetched }) };
}

/** The full page, or undefined when it cannot be fetched: a thin search result is still usable. */
async function fetchPage(
  client: Upstream,
  url: string,
  call: CallOptions,
): Promise<string | undefined> {
  try {
    return (await client.webFetch(url, call)).page.content.trim();
  } catch (error) {
    if (call.signal?.aborted) throw error;
    return undefined;
  }
}

function addUsage(usage: Usage, reply: { prompt_tokens: number; output_tokens: number }): void {
  usage.prompt_tokens += reply.prompt_tokens;
  usage.output_tokens += reply.output_tokens;
  usage.model_calls++;
}

export function citedIndices(answer: string): number[] {
  const found = new Set<number>();
  for (const match of answer.matchAll(/\[(\d+)\]/g)) found.add(Number(match[1]));
  return [...found].sort((a, b) => a - b);
}

function errorMessage(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

function renderMarkdown(
  query: string,
  answer: string | undefined,
  sources: Source[],
  warnings: string[],
): string {
  if (sources.length === 0) return `No web results for "${query}".`;
  const parts: string[] = [];
  if (answer !== undefined) parts.push(`## Answer\n\n${answer}`);
  const items = sources.map(
    (s) =>
      `[${s.index}] [${s.title || s.url}](${s.url})\n    ${s.summary ?? `(no summary: ${s.error})`}`,
  );
  parts.push(`## Sources for "${query}"\n\n${items.join("\n\n")}`);
  for (const warning of warnings) parts.push(`Warning: ${warning}`);
  return parts.join("\n\n");
}
