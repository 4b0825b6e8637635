// The floor of start-up on this SDK: an McpServer with no tools over the SDK's stdio transport,
// bundled and launched as dist/ is. What ollama-cloud-mcp takes beyond it is its own.

import { McpServer } from "@modelcontextprotocol/server";
import { StdioServerTransport } from "@modelcontextprotocol/server/stdio";

const server = new McpServer({ name: "floor", version: "0.0.0" }, { capabilities: { tools: {} } });
void server.connect(new StdioServerTransport());
