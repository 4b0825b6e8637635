import * as z from "zod";
import { defineTool, READ_ONLY_OPEN_WORLD } from "./define-tool.js";
import { integerField, routeSchema, strictArguments, urlField } from "./fields.js";

export const DEFAULT_FETCH_MAX_CHARS = 20_000;
const MAX_LINKS = 100;

export const webFetch = defineTool({
  name: "web_fetch",
  settings: [],
  summary: "read one web page, as markdown.",
  title: "Fetch a web page (Ollama web fetch)",
  description:
    "Fetch one web page through Ollama's web fetch API and get its title, its main content as markdown, and the links on it. Use it to read a page found with web_search in full. Long pages are cut to max_chars, and the result says so.",
  inputSchema: strictArguments(
    {
      url: urlField,
      max_chars: integerField("max_chars", 500, 200_000)
        .default(DEFAULT_FETCH_MAX_CHARS)
        .describe(`Longest content to return, in characters (default ${DEFAULT_FETCH_MAX_CHARS}).`),
    },
    "web_fetch",
  ),
  outputSchema: z.object({
    url: z.string(),
    title: z.string(),
    content: z.string().describe("The page's main content as markdown, cut to max_chars."),
    links: z.array(z.string()).describe(`Links found on the page (at most ${MAX_LINKS}).`),
    truncated: z.boolean().describe("True when content was cut to max_chars."),
    total_chars: z.number().int().describe("Length of the whole content before any cut."),
    route: routeSchema,
  }),
  annotations: READ_ONLY_OPEN_WORLD,
  async handle({ url, max_chars }, { client, call }) {
    const { page, route } = await client.webFetch(url, call);
    const truncated = page.content.length > max_chars;
    const content = truncated ? page.content.slice(0, max_chars) : page.content;
    const links = page.links.slice(0, MAX_LINKS);
    const note = truncated
      ? `\n\n[Truncated: showing ${max_chars} of ${page.content.length} characters. Call again with a larger max_chars to read more.]`
      : "";
    return {
      structured: {
        url,
        title: page.title,
        content,
        links,
        truncated,
        total_chars: page.content.length,
        route,
      },
      text: `# ${page.title || url}\n${url}\n\n${content}${note}`,
    };
  },
});
