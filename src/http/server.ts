import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer, ProtocolEra } from "@modelcontextprotocol/server";
import { type Clock, systemClock } from "../clock.js";
import type { HttpOptions } from "../config.js";
import type { OAuthServer } from "../oauth/app.js";
import type { MetadataFetching } from "../oauth/client-metadata.js";
import type { CheckKey } from "../oauth/sign-in-form.js";
import type { OpsLogger } from "../observability.js";
import type { Store } from "../store/store.js";
import { VERSION } from "../version.js";
import { hostProblem, limitConnections, originProblem, refuse } from "./guards.js";
import { httpIdentity } from "./identify.js";
import { createMcpEndpoint, type McpEndpoint } from "./mcp-endpoint.js";

export const MCP_PATH = "/mcp";
const HEALTH_PATH = "/healthz";
const NEEDS_TOKEN = "Unauthorized: send Authorization: Bearer <MCP_HTTP_TOKEN>";
const NEEDS_OLLAMA_KEY =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: VS Code's own ${input:...} syntax, quoted for the reader.
  'Unauthorized: this server runs each caller\'s calls on the caller\'s own Ollama account. Send your Ollama API key (https://ollama.com/settings/keys) as a bearer token, e.g. in Cursor: "headers": { "Authorization": "Bearer <your Ollama API key>" }; in VS Code, a promptString input with "password": true used as "Authorization": "Bearer ${input:ollama-api-key}".';
const OAUTH_ENDPOINTS = new Set(["/register", "/token", "/authorize", "/revoke"]);

export interface HttpServerDeps {
  options: HttpOptions;
  /** Builds one MCP server: per 2025 session, or per request (2026-07-28, or stateless 2025). */
  createMcpServer: (era: ProtocolEra) => McpServer | Promise<McpServer>;
  log: OpsLogger;
  clock?: Clock;
  /** With MCP_HTTP_AUTH=oauth: where sign-ins are kept, and how a user's key is checked. */
  signIn?: {
    store: Store;
    checkKey: CheckKey;
    /** How client metadata documents are fetched, where tests need their own. */
    clientMetadata?: MetadataFetching;
  };
}

export interface RunningHttpServer {
  url: string;
  sessionCount(): number;
  /**
   * Stops accepting, lets calls in flight finish within the grace period, answers those still
   * running with a shutting-down error, then closes sessions and connections.
   */
  close(): Promise<void>;
}

export async function startHttpServer(deps: HttpServerDeps): Promise<RunningHttpServer> {
  const { options, log } = deps;
  const clock = deps.clock ?? systemClock;
  const mcp = createMcpEndpoint({ ...deps, clock });
  const oauth = options.auth === "oauth" ? await signInServer(deps, clock, mcp) : undefined;
  const state = { closing: false };
  const route = router(options, mcp, oauth, state);

  const httpServer = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      log.log("error", "http request failed", { error: (error as Error)?.name ?? "error" });
      refuse(res, 500, "Internal server error");
    });
  });
  // Bodies have their own deadline (readBody); an answer may stream for minutes.
  httpServer.requestTimeout = 0;
  httpServer.headersTimeout = 30_000;
  limitConnections(
    httpServer,
    { total: options.maxConnections, perAddress: options.maxConnectionsPerAddress },
    log,
  );

  await new Promise<void>((resolve, rejectListen) => {
    httpServer.once("error", rejectListen);
    httpServer.listen(options.port, options.host, () => {
      httpServer.off("error", rejectListen);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const displayHost = options.host.includes(":") ? `[${options.host}]` : options.host;

  return {
    url: `http://${displayHost}:${port}${MCP_PATH}`,
    sessionCount: () => mcp.sessionCount(),
    async close() {
      state.closing = true;
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      await mcp.close();
      httpServer.closeAllConnections();
      await stopped;
    },
  };
}

/**
 * One request's way through: health, then the guards (Host, and Origin for /mcp), then who the
 * caller is (the token, their own key, or a sign-in), then the MCP endpoint.
 */
function router(
  options: HttpOptions,
  mcp: McpEndpoint,
  oauth: OAuthServer | undefined,
  state: { closing: boolean },
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const identify = httpIdentity(options);
  return async (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === HEALTH_PATH && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(state.closing ? 503 : 200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          status: state.closing ? "stopping" : "ok",
          version: VERSION,
          mode: options.stateless ? "stateless" : "stateful",
          sessions: mcp.sessionCount(),
        }),
      );
      return;
    }
    if (path !== MCP_PATH && !oauth) {
      if (path.startsWith("/.well-known/") || OAUTH_ENDPOINTS.has(path)) {
        return noOAuth(options, res, path);
      }
      return refuse(res, 404, `Not found: the MCP endpoint is ${MCP_PATH}`);
    }
    if (state.closing) return refuse(res, 503, "Server is shutting down");
    const badHost = hostProblem(req.headers.host, {
      allowedHosts: options.allowedHosts,
      boundTo: options.host,
      signInUrl: options.auth === "oauth" ? options.publicUrl : undefined,
    });
    if (badHost) return refuse(res, 403, badHost);
    // OAuth's endpoints answer any origin (browser-based clients sign in from their own).
    if (oauth && path !== MCP_PATH) return oauth.routes(req, res);
    const badOrigin = originProblem(req.headers.origin, options.allowedOrigins);
    if (badOrigin) return refuse(res, 403, badOrigin);
    if (oauth) return oauth.mcp(req, res);
    const caller = identify(req);
    if (!caller) {
      return refuse(res, 401, options.keys === "client" ? NEEDS_OLLAMA_KEY : NEEDS_TOKEN, {
        headers: { "www-authenticate": 'Bearer realm="ollama-cloud-mcp"' },
      });
    }
    return mcp.serve(req, res, caller);
  };
}

/** The OAuth side, loaded only for MCP_HTTP_AUTH=oauth. */
async function signInServer(
  deps: HttpServerDeps,
  clock: Clock,
  mcp: McpEndpoint,
): Promise<OAuthServer> {
  if (!deps.signIn) throw new Error("MCP_HTTP_AUTH=oauth needs a store and a key check");
  const { createOAuthServer } = await import("../oauth/app.js");
  return createOAuthServer({
    options: deps.options,
    mcpPath: MCP_PATH,
    store: deps.signIn.store,
    clock,
    log: deps.log,
    checkKey: deps.signIn.checkKey,
    ...(deps.signIn.clientMetadata && { clientMetadata: deps.signIn.clientMetadata }),
    serve: mcp.serve,
  });
}

/**
 * MCP clients probe here for OAuth. Plain text on /.well-known: a JSON body would be read as a
 * broken OAuth document. The other endpoints answer in OAuth's own error form, the one thing
 * such a client shows its user, so that is where the way in is said.
 */
function noOAuth(options: HttpOptions, res: ServerResponse, path: string): void {
  const way =
    options.keys === "client"
      ? "This MCP server does not use OAuth: add the header Authorization: Bearer <your Ollama API key> to its entry in your MCP client's config."
      : "This MCP server does not use OAuth: add the header Authorization: Bearer <MCP_HTTP_TOKEN> to its entry in your MCP client's config.";
  if (path.startsWith("/.well-known/")) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8", connection: "close" });
    res.end(`Not found. ${way}\n`);
    return;
  }
  res.writeHead(400, { "content-type": "application/json", connection: "close" });
  res.end(JSON.stringify({ error: "access_denied", error_description: way }));
}
