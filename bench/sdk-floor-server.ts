// The floor for a server on this SDK: McpServer over the same stdio transport, no tools, no
// configuration. Bundled like dist/main.cjs by the start-up benchmark; the difference between
// its start and ours is what this project's own code costs.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { noElicitationValidator } from "../src/no-elicitation-validator.js";
import { StdioTransport } from "../src/transports/stdio.js";

const server = new McpServer(
  { name: "sdk-floor", version: "1" },
  { capabilities: { tools: {} }, jsonSchemaValidator: noElicitationValidator },
);
server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
void server.connect(new StdioTransport());
