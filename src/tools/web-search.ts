import * as z from "zod";
import { defineTool, READ_ONLY_OPEN_WORLD } from "./define-tool.js";
import { maxResultsField, queryField, routeSchema, strictArguments } from "./fields.js";

const resultSchema = z.object({
  title: z.string(),
  url: z.string(),
  content: z.string().describe("The relevant text of the page, as markdown."),
});

export const webSearch = defineTool({
  name: "web_search",
  settings: [],
  summary: "search the live web and get the top results with their page text.",
  title: "Search the web (Ollama web search)",
  description:
    "Search the live web with Ollama's web search API and get the top results with their page content. Use it for anything recent or anything you are not sure about; cite the URLs you use.",
  inputSchema: strictArguments({ query: queryField, max_results: maxResultsField }, "web_search"),
  outputSchema: z.object({ query: z.string(), results: z.array(resultSchema), route: routeSchema }),
  annotations: READ_ONLY_OPEN_WORLD,
  async handle({ query, max_results }, { client, call }) {
    const { results, route } = await client.webSearch(query, max_results, call);
    return { structured: { query, results, route }, text: renderResults(query, results) };
  },
});

function renderResults(query: string, results: z.infer<typeof resultSchema>[]): string {
  if (results.length === 0) return `No web results for "${query}".`;
  const items = results.map(
    (result, i) => `${i + 1}. ${result.title || result.url}\n   ${result.url}\n\n${result.content}`,
  );
  return `Web results for "${query}":\n\n${items.join("\n\n---\n\n")}`;
}
