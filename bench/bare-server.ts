// The least a server can do for one web search: an McpServer with one web_search tool that hands
// the call to ollama-js, over the SDK's own stdio transport. What ollama-cloud-mcp adds per call
// (routing, limits, retries, redaction, its own stdio transport) is measured against this.

import { McpServer } from "@modelcontextprotocol/server";
import { StdioServerTransport } from "@modelcontextprotocol/server/stdio";
import { Ollama } from "ollama";
import * as z from "zod";

const host = process.env.OLLAMA_CLOUD_HOST ?? "https://ollama.com";
const ollama = new Ollama({
  host,
  headers: { authorization: `Bearer ${process.env.OLLAMA_API_KEY}` },
  // ollama-js posts web search to https://ollama.com; point it at the configured host.
  fetch: (url, init) => fetch(String(url).replace("https://ollama.com", host), init),
});
const server = new McpServer({ name: "bare", version: "0.0.0" });
server.registerTool(
  "web_search",
  {
    description: "Search the web.",
    inputSchema: z.object({
      query: z.string(),
      max_results: z.number().int().min(1).max(10).default(5),
    }),
    outputSchema: z.object({
      results: z.array(z.object({ title: z.string(), url: z.string(), content: z.string() })),
    }),
  },
  async ({ query, max_results }) => {
    const { results } = await ollama.webSearch({ query, max_results } as unknown as {
      query: string;
    });
    return {
      content: [{ type: "text", text: JSON.stringify(results) }],
      structuredContent: { results },
    };
  },
);
void server.connect(new StdioServerTransport());
