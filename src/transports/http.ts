import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { NodeStreamableHTTPServerTransport, toNodeHandler } from "@modelcontextprotocol/node";
import {
  type AuthInfo,
  createMcpHandler,
  isInitializeRequest,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isLegacyRequest,
  type JSONRPCMessage,
  type McpServer,
} from "@modelcontextprotocol/server";
import { type Clock, systemClock } from "../clock.js";
import type { HttpOptions } from "../config.js";
import { type HttpCaller, httpIdentity } from "../http-caller.js";
import type { CheckKey } from "../oauth/sign-in-form.js";
import type { OpsLogger } from "../observability.js";
import { finishCallsInFlight, STOPPED_AT_SHUTDOWN } from "../shutdown.js";
import type { Store } from "../store/store.js";
import { VERSION } from "../version.js";
import { hostProblem, limitConnections, originProblem, readBody, refuse } from "./http-guards.js";
import { OpenCalls, Sessions } from "./http-sessions.js";
import { checkMessage, INVALID_REQUEST } from "./jsonrpc.js";

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
  createMcpServer: () => McpServer;
  log: OpsLogger;
  clock?: Clock;
  /** With MCP_HTTP_AUTH=oauth: where sign-ins are kept, and how a user's key is checked. */
  signIn?: {
    store: Store;
    checkKey: CheckKey;
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
  const calls = new OpenCalls();
  const sessions = new Sessions(options, clock, log, (s) => calls.count(s.transport) > 0);
  const identify = httpIdentity(options);
  const oauth = options.auth === "oauth" ? await signInServer() : undefined;
  // 2026-07-28 requests: each answered on its own by a fresh server, on any instance. The
  // 2025 ones are routed around it (serveLegacy), to sessions unless MCP_HTTP_STATELESS.
  const modern = createMcpHandler(() => deps.createMcpServer(), {
    legacy: "reject",
    maxRequestBodySize: options.maxBodyBytes,
    onerror: (error) => log.log("debug", `http: ${error.message}`),
  });
  const serveModern = toNodeHandler(modern, { maxRequestBodySize: options.maxBodyBytes });
  let closing = false;

  const httpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === HEALTH_PATH && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(closing ? 503 : 200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          status: closing ? "stopping" : "ok",
          version: VERSION,
          mode: options.stateless ? "stateless" : "stateful",
          sessions: sessions.size,
        }),
      );
      return;
    }
    if (path !== MCP_PATH && !oauth) {
      if (path.startsWith("/.well-known/") || OAUTH_ENDPOINTS.has(path)) return noOAuth(res, path);
      return refuse(res, 404, `Not found: the MCP endpoint is ${MCP_PATH}`);
    }
    if (closing) return refuse(res, 503, "Server is shutting down");

    const badHost = hostProblem(req.headers.host, {
      allowedHosts: options.allowedHosts,
      boundTo: options.host,
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
    return serve(req, res, caller);
  }

  /** An MCP request from an identified caller. */
  async function serve(req: IncomingMessage, res: ServerResponse, caller: HttpCaller) {
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      return refuse(res, 405, `Method ${req.method} not allowed`, {
        headers: { allow: "GET, POST, DELETE" },
      });
    }
    const parsed =
      req.method === "POST" ? await readMessages(req, res) : { body: undefined, messages: [] };
    if (!parsed) return;
    (req as IncomingMessage & { auth?: AuthInfo }).auth = caller.auth;
    if (!(await isLegacyRequest(requestHead(req), parsed.body))) {
      // A request the client abandons (its stream closed) aborts the call and its upstream
      // request: toNodeHandler aborts the exchange when the response closes unfinished.
      if (parsed.messages.some(isCall)) calls.trackExchange(res);
      return serveModern(req, res, parsed.body);
    }
    if (options.stateless) return serveStateless(req, res, parsed.body, parsed.messages);
    return serveStateful(req, res, parsed.body, parsed.messages, caller);
  }

  /** The OAuth side, loaded only for MCP_HTTP_AUTH=oauth. */
  async function signInServer() {
    if (!deps.signIn) throw new Error("MCP_HTTP_AUTH=oauth needs a store and a key check");
    const { createOAuthServer } = await import("../oauth/app.js");
    return createOAuthServer({
      options,
      mcpPath: MCP_PATH,
      store: deps.signIn.store,
      clock,
      log,
      checkKey: deps.signIn.checkKey,
      serve,
    });
  }

  /** A POST's JSON-RPC messages; undefined when the request was answered with an error. */
  async function readMessages(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ body: unknown; messages: JSONRPCMessage[] } | undefined> {
    const type = req.headers["content-type"] ?? "";
    if (!/^application\/json\b/i.test(type)) {
      refuse(res, 415, "Unsupported Media Type: send Content-Type: application/json");
      return undefined;
    }
    const read = await readBody(req, options.maxBodyBytes, options.bodyTimeoutMs);
    if (read.kind === "aborted") {
      res.destroy();
      return undefined;
    }
    if (read.kind === "too-large") {
      refuse(
        res,
        413,
        `Request body larger than ${options.maxBodyBytes} bytes (MCP_HTTP_MAX_BODY_BYTES)`,
      );
      return undefined;
    }
    if (read.kind === "too-slow") {
      refuse(res, 408, `Request body not received within ${options.bodyTimeoutMs} ms`);
      return undefined;
    }
    let body: unknown;
    try {
      body = JSON.parse(read.text);
    } catch {
      refuse(res, 400, "Parse error: the body is not valid JSON", { code: -32700 });
      return undefined;
    }
    const checked = (Array.isArray(body) ? body : [body]).map(checkMessage);
    const invalid = checked.flatMap((c) => (c.ok ? [] : [c]));
    if (invalid.length === 0 && !(Array.isArray(body) && body.length === 0)) {
      return { body, messages: checked.flatMap((c) => (c.ok ? [c.message] : [])) };
    }
    const replies = invalid.flatMap((c) => (c.reply ? [c.reply] : []));
    if (replies.length === 0) {
      refuse(res, 400, `Invalid Request: ${invalid[0]?.reason ?? "an empty batch"}`, {
        code: INVALID_REQUEST,
      });
    } else {
      res.writeHead(400, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify(Array.isArray(body) ? replies : replies[0]));
    }
    return undefined;
  }

  /**
   * MCP clients probe here for OAuth. Plain text on /.well-known: a JSON body would be read as a
   * broken OAuth document. The other endpoints answer in OAuth's own error form, the one thing
   * such a client shows its user, so that is where the way in is said.
   */
  function noOAuth(res: ServerResponse, path: string): void {
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

  async function serveStateless(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    messages: JSONRPCMessage[],
  ) {
    if (req.method !== "POST") {
      return refuse(res, 405, "This server is stateless: only POST is supported", {
        headers: { allow: "POST" },
      });
    }
    const server = deps.createMcpServer();
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    // Closing the server aborts its in-flight handlers, and with them the upstream requests.
    res.on("close", () => void server.close().catch(() => {}));
    await server.connect(transport);
    calls.track(transport, res, messages);
    await transport.handleRequest(req, res, body);
  }

  async function serveStateful(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    messages: JSONRPCMessage[],
    caller: HttpCaller,
  ) {
    const sessionId = header(req, "mcp-session-id");
    if (sessionId) {
      const session = sessions.find(sessionId, caller.identity);
      if (!session) {
        return refuse(res, 404, "Session not found: it ended or expired; start a new one", {
          code: -32001,
        });
      }
      sessions.touch(session);
      if (
        messages.some((m) => isJSONRPCNotification(m) && m.method === "notifications/initialized")
      ) {
        session.initialized = true;
      }
      if (req.method === "POST") {
        calls.track(session.transport, res, messages);
        res.on("close", () => sessions.touch(session));
      }
      await session.transport.handleRequest(req, res, body);
      if (req.method === "DELETE") await sessions.end(sessionId);
      return;
    }
    if (req.method !== "POST" || !messages.some((m) => isInitializeRequest(m))) {
      return refuse(
        res,
        400,
        "Bad Request: send an initialize request first, without a session id",
      );
    }
    const place = sessions.reserve(caller.identity);
    if ("refusal" in place) {
      return refuse(res, 503, place.refusal, { headers: { "retry-after": "30" } });
    }
    const server = deps.createMcpServer();
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        place.release();
        sessions.add(id, { transport, server, identity: caller.identity });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.forget(transport.sessionId);
    };
    res.on("close", () => {
      place.release();
      if (!transport.sessionId) void server.close().catch(() => {});
    });
    await server.connect(transport);
    calls.track(transport, res, messages);
    await transport.handleRequest(req, res, body);
  }

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
    sessionCount: () => sessions.size,
    async close() {
      closing = true;
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      await finishCallsInFlight({
        clock,
        graceMs: options.shutdownGraceMs,
        answered: calls.whenNone(),
        answerRest: () => calls.answerAll(STOPPED_AT_SHUTDOWN, clock),
      });
      // Ends subscriptions/listen streams, and aborts 2026-07-28 calls still running.
      await modern.close();
      await sessions.endAll();
      httpServer.closeAllConnections();
      await stopped;
    },
  };
}

/**
 * What isLegacyRequest reads besides the parsed body: the method and headers (its era claims).
 * The body itself was read already, within the guards' bounds.
 */
function requestHead(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  return new Request("http://localhost/mcp", { method: req.method ?? "GET", headers });
}

/** A request that runs work: what shutdown waits for (a listen stream is not one). */
function isCall(message: JSONRPCMessage): boolean {
  return isJSONRPCRequest(message) && message.method !== "subscriptions/listen";
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
