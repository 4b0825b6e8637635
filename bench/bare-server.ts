// The least a server on the SDK's v2 packages can do, to measure ours against, bundled and
// launched the way dist/ is (bench/launch.ts):
//   (no flag)  one web_search tool that hands the call to ollama-js, over stdio (serveStdio:
//              both eras), for the cost of a call;
//   --ten      ten tools with schemas of the size of ours, over stdio, for start-up;
//   --http     the one web_search tool behind createMcpHandler (both eras, no sessions), on a
//              free loopback port it prints as "Listening on <url>", for HTTP under load.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { toNodeHandler } from "@modelcontextprotocol/node";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { Ollama } from "ollama";
import * as z from "zod";

const host = process.env.OLLAMA_CLOUD_HOST ?? "https://ollama.com";
const ollama = new Ollama({
  host,
  headers: { authorization: `Bearer ${process.env.OLLAMA_API_KEY}` },
  // ollama-js posts web search to https://ollama.com; point it at the configured host.
  fetch: (url, init) => fetch(String(url).replace("https://ollama.com", host), init),
});
const flags = new Set(process.argv.slice(2));

function webSearchServer(): McpServer {
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
  return server;
}

/** Ten tools whose inputs and outputs have about as many fields as ours. */
function tenToolServer(): McpServer {
  const server = new McpServer({ name: "bare-ten", version: "0.0.0" });
  for (let i = 1; i <= 10; i++) {
    server.registerTool(
      `tool_${i}`,
      {
        title: `Tool ${i}`,
        description: `Tool number ${i}: does one thing with its input and says what it did.`,
        inputSchema: z.object({
          query: z.string().min(1).max(2_000).describe("What to look for."),
          model: z.string().optional().describe("Which model."),
          max_results: z.number().int().min(1).max(10).default(5),
          think: z.union([z.boolean(), z.enum(["low", "medium", "high"])]).optional(),
          options: z.object({ temperature: z.number().min(0).max(2).optional() }).optional(),
        }),
        outputSchema: z.object({
          answer: z.string(),
          model: z.string(),
          sources: z.array(z.object({ title: z.string(), url: z.string() })),
          usage: z.object({ input_tokens: z.number(), output_tokens: z.number() }).optional(),
        }),
        annotations: { readOnlyHint: true, openWorldHint: true },
      },
      async ({ query }) => ({
        content: [{ type: "text", text: query }],
        structuredContent: { answer: query, model: "m", sources: [] },
      }),
    );
  }
  return server;
}

if (flags.has("--http")) {
  const handler = toNodeHandler(createMcpHandler(() => webSearchServer()));
  const server = createServer((req, res) => void handler(req, res));
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo;
    process.stderr.write(`Listening on http://127.0.0.1:${port}/mcp\n`);
  });
} else {
  serveStdio(() => (flags.has("--ten") ? tenToolServer() : webSearchServer()));
}
