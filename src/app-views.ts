import { readFile } from "node:fs/promises";
import {
  getUiCapability,
  RESOURCE_MIME_TYPE,
  RESOURCE_URI_META_KEY,
} from "@modelcontextprotocol/ext-apps/server";
import {
  type ClientCapabilities,
  type McpServer,
  ResourceNotFoundError,
  ResourceTemplate,
  type ServerContext,
} from "@modelcontextprotocol/server";

/**
 * The interactive views (MCP Apps, the io.modelcontextprotocol/ui extension) of the tools that
 * have one: each tool names its view's ui:// resource in its `_meta`, which clients without the
 * extension ignore, and the page is read from disk only when a client reads the resource.
 */

const PAGE = new URL("./views/ollama-cloud.html", import.meta.url);

export function viewUri(tool: string): string {
  return `ui://ollama-cloud-mcp/${tool}`;
}

/** A tool's `_meta` pointing at its view, in the extension's form and the older flat key. */
export function viewMeta(tool: string): Record<string, unknown> {
  return { ui: { resourceUri: viewUri(tool) }, [RESOURCE_URI_META_KEY]: viewUri(tool) };
}

/** No origin at all: the page holds its script and style, and fetches nothing. */
const RESOURCE_META = {
  ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [] }, prefersBorder: true },
};

let page: Promise<string> | undefined;

/** The built page (npm run build writes it beside the bundle), read once. */
function readPage(): Promise<string> {
  page ??= readFile(PAGE, "utf8").catch((error: unknown) => {
    page = undefined;
    throw new Error(`the views' page is missing (${PAGE.pathname}): npm run build writes it`, {
      cause: error,
    });
  });
  return page;
}

/**
 * Serves the views of `tools` on `server`: listed only to clients that advertise the extension
 * (its capabilities come with each 2026-07-28 request, and with a 2025 session's initialize),
 * readable by any.
 */
export function registerViews(server: McpServer, tools: readonly string[]): void {
  if (tools.length === 0) return;
  const listed = tools.map((tool) => ({
    uri: viewUri(tool),
    name: `${tool} view`,
    mimeType: RESOURCE_MIME_TYPE,
    _meta: RESOURCE_META,
  }));
  const template = new ResourceTemplate("ui://ollama-cloud-mcp/{tool}", {
    list: (ctx) => ({ resources: rendersViews(server, ctx) ? listed : [] }),
  });
  server.registerResource(
    "ollama-cloud-mcp views",
    template,
    { mimeType: RESOURCE_MIME_TYPE, description: "Interactive views of tool results (MCP Apps)." },
    async (uri, variables) => {
      if (!tools.includes(String(variables.tool))) throw new ResourceNotFoundError(uri.href);
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: RESOURCE_MIME_TYPE,
            text: await readPage(),
            _meta: RESOURCE_META,
          },
        ],
      };
    },
  );
}

/** Whether the client said it renders MCP Apps. */
function rendersViews(server: McpServer, ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const capabilities = (envelope?.["io.modelcontextprotocol/clientCapabilities"] ??
    server.server.getClientCapabilities()) as ClientCapabilities | undefined;
  const ui = getUiCapability(capabilities);
  return ui !== undefined && (ui.mimeTypes?.includes(RESOURCE_MIME_TYPE) ?? true);
}
