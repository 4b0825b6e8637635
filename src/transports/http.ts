import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  isInitializeRequest,
  isJSONRPCNotification,
  isJSONRPCRequest,
  type JSONRPCMessage,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { CALLER_KEY } from "../caller.js";
import { type HttpOptions, isLoopbackHostname } from "../config.js";
import type { OpsLogger } from "../observability.js";
import { VERSION } from "../version.js";
import { limitConnections, readBody, refuse } from "./http-guards.js";
import { checkMessage, errorReply, INVALID_REQUEST, SERVER_ERROR } from "./jsonrpc.js";

export const MCP_PATH = "/mcp";
const HEALTH_PATH = "/healthz";
const SWEEP_INTERVAL_MS = 1_000;
const NEEDS_TOKEN = "Unauthorized: send Authorization: Bearer <MCP_HTTP_TOKEN>";
const NEEDS_OLLAMA_KEY =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: VS Code's own ${input:...} syntax, quoted for the reader.
  'Unauthorized: this server runs each caller\'s calls on the caller\'s own Ollama account. Send your Ollama API key (https://ollama.com/settings/keys) as a bearer token, e.g. in Cursor: "headers": { "Authorization": "Bearer <your Ollama API key>" }; in VS Code, a promptString input with "password": true used as "Authorization": "Bearer ${input:ollama-api-key}".';
const OAUTH_ENDPOINTS = new Set(["/register", "/token", "/authorize", "/revoke"]);
/** How long answers written at shutdown may take to leave before connections are cut. */
const FLUSH_AT_SHUTDOWN_MS = 1_000;

export interface HttpServerDeps {
  options: HttpOptions;
  /** Builds one MCP server; called per session (stateful) or per request (stateless). */
  createMcpServer: () => McpServer;
  log: OpsLogger;
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

/** Who is calling: sessions belong to the identity that created them. */
interface Caller {
  identity: string;
  auth: AuthInfo;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  identity: string;
  createdAt: number;
  lastActive: number;
  /** Set when the client sent notifications/initialized: the handshake is complete. */
  initialized: boolean;
}

/** A request being answered on a transport: what shutdown waits for, or answers. */
interface OpenCall {
  id: RequestId;
  res: ServerResponse;
}

export async function startHttpServer(deps: HttpServerDeps): Promise<RunningHttpServer> {
  const { options, log } = deps;
  const sessions = new Map<string, Session>();
  /** Sessions whose initialize is being answered, by identity. */
  const starting = new Map<string, number>();
  const openCalls = new Map<StreamableHTTPServerTransport, Map<string, OpenCall>>();
  const tokenDigest = options.token ? digest(options.token) : undefined;
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

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, session] of sessions) {
        const calls = openCalls.get(session.transport)?.size ?? 0;
        if (!session.initialized && now - session.createdAt > options.handshakeTimeoutMs) {
          log.log("info", "session closed: the client never completed the handshake");
          void endSession(id);
        } else if (calls === 0 && now - session.lastActive > options.sessionIdleMs) {
          log.log("info", "session expired", { idle_ms: now - session.lastActive });
          void endSession(id);
        }
      }
    },
    Math.min(SWEEP_INTERVAL_MS, options.sessionIdleMs),
  );
  sweeper.unref();

  async function endSession(id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.server.close().catch(() => {});
  }

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
    const noOAuth =
      options.keys === "client"
        ? "This MCP server does not use OAuth: add the header Authorization: Bearer <your Ollama API key> to its entry in your MCP client's config."
        : "This MCP server does not use OAuth: add the header Authorization: Bearer <MCP_HTTP_TOKEN> to its entry in your MCP client's config.";
    if (path.startsWith("/.well-known/")) {
      // Plain text on purpose: MCP clients probe here for OAuth metadata, and a JSON body would
      // be read as a broken OAuth document instead of "this server has none".
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", connection: "close" });
      res.end(`Not found. ${noOAuth}\n`);
      return;
    }
    if (OAUTH_ENDPOINTS.has(path)) {
      // A client that found no OAuth metadata tries these next. An OAuth error body is the one
      // thing it shows its user, so that is where the way in is said.
      res.writeHead(400, { "content-type": "application/json", connection: "close" });
      res.end(JSON.stringify({ error: "access_denied", error_description: noOAuth }));
      return;
    }
    if (path !== MCP_PATH) return refuse(res, 404, `Not found: the MCP endpoint is ${MCP_PATH}`);
    if (closing) return refuse(res, 503, "Server is shutting down");

    const hostProblem = checkHost(req.headers.host);
    if (hostProblem) return refuse(res, 403, hostProblem);
    const originProblem = checkOrigin(req.headers.origin);
    if (originProblem) return refuse(res, 403, originProblem);
    const caller = identify(req);
    if (!caller) {
      return refuse(res, 401, options.keys === "client" ? NEEDS_OLLAMA_KEY : NEEDS_TOKEN, {
        headers: { "www-authenticate": 'Bearer realm="ollama-cloud-mcp"' },
      });
    }
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      return refuse(res, 405, `Method ${req.method} not allowed`, {
        headers: { allow: "GET, POST, DELETE" },
      });
    }

    let body: unknown;
    let messages: JSONRPCMessage[] = [];
    if (req.method === "POST") {
      const type = req.headers["content-type"] ?? "";
      if (!/^application\/json\b/i.test(type)) {
        return refuse(res, 415, "Unsupported Media Type: send Content-Type: application/json");
      }
      const read = await readBody(req, options.maxBodyBytes, options.bodyTimeoutMs);
      if (read.kind === "aborted") return void res.destroy();
      if (read.kind === "too-large") {
        return refuse(
          res,
          413,
          `Request body larger than ${options.maxBodyBytes} bytes (MCP_HTTP_MAX_BODY_BYTES)`,
        );
      }
      if (read.kind === "too-slow") {
        return refuse(res, 408, `Request body not received within ${options.bodyTimeoutMs} ms`);
      }
      try {
        body = JSON.parse(read.text);
      } catch {
        return refuse(res, 400, "Parse error: the body is not valid JSON", { code: -32700 });
      }
      const checked = (Array.isArray(body) ? body : [body]).map(checkMessage);
      const invalid = checked.filter((c) => !c.ok);
      if (invalid.length > 0 || (Array.isArray(body) && body.length === 0)) {
        return answerInvalid(res, body, invalid);
      }
      messages = checked.flatMap((c) => (c.ok ? [c.message] : []));
    }
    (req as IncomingMessage & { auth?: AuthInfo }).auth = caller.auth;
    if (options.stateless) return serveStateless(req, res, body, messages);
    return serveStateful(req, res, body, messages, caller);
  }

  function answerInvalid(
    res: ServerResponse,
    body: unknown,
    invalid: { ok: false; reason: string; reply: ReturnType<typeof errorReply> | undefined }[],
  ): void {
    const replies = invalid.flatMap((c) => (c.reply ? [c.reply] : []));
    if (replies.length === 0) {
      const reason = invalid[0]?.reason ?? "an empty batch";
      refuse(res, 400, `Invalid Request: ${reason}`, { code: INVALID_REQUEST });
      return;
    }
    res.writeHead(400, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify(Array.isArray(body) ? replies : replies[0]));
  }

  /** Which requests of a POST are being answered, so shutdown can wait for them or answer them. */
  function track(
    transport: StreamableHTTPServerTransport,
    res: ServerResponse,
    messages: JSONRPCMessage[],
  ) {
    const requests = messages.filter(isJSONRPCRequest);
    if (requests.length === 0) return;
    let calls = openCalls.get(transport);
    if (!calls) {
      calls = new Map();
      openCalls.set(transport, calls);
    }
    const held = calls;
    for (const { id } of requests) held.set(`${typeof id}:${id}`, { id, res });
    res.on("close", () => {
      for (const { id } of requests) held.delete(`${typeof id}:${id}`);
      if (held.size === 0) openCalls.delete(transport);
      // The SDK does not cancel a request when its HTTP client goes away: say so in the
      // protocol's own words, which aborts the call and its upstream request.
      if (res.writableFinished) return;
      for (const { id } of requests) {
        transport.onmessage?.({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: id, reason: "the HTTP client disconnected" },
        });
      }
    });
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
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    // Closing the server aborts its in-flight handlers, and with them the upstream requests.
    res.on("close", () => void server.close().catch(() => {}));
    await server.connect(transport);
    track(transport, res, messages);
    await transport.handleRequest(req, res, body);
  }

  async function serveStateful(
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
    messages: JSONRPCMessage[],
    caller: Caller,
  ) {
    const sessionId = header(req, "mcp-session-id");
    if (sessionId) {
      const session = sessions.get(sessionId);
      // Another identity's session is as unknown as one that never existed.
      if (!session || session.identity !== caller.identity) {
        return refuse(res, 404, "Session not found: it ended or expired; start a new one", {
          code: -32001,
        });
      }
      session.lastActive = Date.now();
      if (
        messages.some((m) => isJSONRPCNotification(m) && m.method === "notifications/initialized")
      ) {
        session.initialized = true;
      }
      if (req.method === "POST") {
        track(session.transport, res, messages);
        res.on("close", () => {
          session.lastActive = Date.now();
        });
      }
      await session.transport.handleRequest(req, res, body);
      if (req.method === "DELETE") await endSession(sessionId);
      return;
    }
    if (req.method !== "POST" || !messages.some((m) => isInitializeRequest(m))) {
      return refuse(
        res,
        400,
        "Bad Request: send an initialize request first, without a session id",
      );
    }
    const startingTotal = [...starting.values()].reduce((n, count) => n + count, 0);
    if (sessions.size + startingTotal >= options.maxSessions) {
      return refuse(
        res,
        503,
        `Too many sessions (the limit is ${options.maxSessions}); close unused sessions or try again later`,
        { headers: { "retry-after": "30" } },
      );
    }
    const own = [...sessions.values()].filter((s) => s.identity === caller.identity).length;
    if (own + (starting.get(caller.identity) ?? 0) >= options.maxSessionsPerClient) {
      return refuse(
        res,
        503,
        `Too many sessions for this client (the limit is ${options.maxSessionsPerClient}, MCP_HTTP_MAX_SESSIONS_PER_CLIENT); close unused sessions (DELETE /mcp) or wait for them to expire`,
        { headers: { "retry-after": "30" } },
      );
    }
    starting.set(caller.identity, (starting.get(caller.identity) ?? 0) + 1);
    let counted = true;
    const doneStarting = () => {
      if (!counted) return;
      counted = false;
      const left = (starting.get(caller.identity) ?? 1) - 1;
      if (left > 0) starting.set(caller.identity, left);
      else starting.delete(caller.identity);
    };
    const server = deps.createMcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        doneStarting();
        const now = Date.now();
        sessions.set(id, {
          transport,
          server,
          identity: caller.identity,
          createdAt: now,
          lastActive: now,
          initialized: false,
        });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    res.on("close", () => {
      doneStarting();
      if (!transport.sessionId) void server.close().catch(() => {});
    });
    await server.connect(transport);
    track(transport, res, messages);
    await transport.handleRequest(req, res, body);
  }

  /**
   * The identity behind a request, or undefined when it must authenticate: the token it
   * carries, or on an open loopback server its remote address.
   */
  function identify(req: IncomingMessage): Caller | undefined {
    if (options.keys === "client") {
      const key = bearer(req.headers.authorization);
      if (!key) return undefined;
      const identity = keyOwner(key);
      return {
        identity,
        auth: { token: key, clientId: identity, scopes: [], extra: { [CALLER_KEY]: true } },
      };
    }
    if (tokenDigest) {
      const presented = bearer(req.headers.authorization);
      if (!presented || !timingSafeEqual(digest(presented), tokenDigest)) return undefined;
      const identity = `token:${tokenDigest.toString("hex").slice(0, 16)}`;
      return { identity, auth: { token: "", clientId: identity, scopes: [] } };
    }
    const identity = `address:${req.socket.remoteAddress ?? "unknown"}`;
    return { identity, auth: { token: "", clientId: identity, scopes: [] } };
  }

  function checkHost(host: string | undefined): string | undefined {
    if (!host) return "Forbidden: missing Host header";
    const name = hostName(host);
    if (options.allowedHosts.length > 0) {
      return options.allowedHosts.includes(name)
        ? undefined
        : `Forbidden: Host ${host} is not allowed`;
    }
    if (isLoopbackHostname(options.host) && !isLoopbackHostname(name)) {
      return `Forbidden: Host ${host} is not allowed (DNS rebinding protection)`;
    }
    return undefined;
  }

  function checkOrigin(origin: string | undefined): string | undefined {
    if (!origin) return undefined;
    if (options.allowedOrigins.includes("*") || options.allowedOrigins.includes(origin)) {
      return undefined;
    }
    try {
      if (isLoopbackHostname(new URL(origin).hostname)) return undefined;
    } catch {
      // A malformed Origin is as foreign as any.
    }
    return `Forbidden: Origin ${origin} is not allowed`;
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
      clearInterval(sweeper);
      const stopped = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      const deadline = Date.now() + options.shutdownGraceMs;
      while (openCalls.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const cut: Promise<void>[] = [];
      for (const [transport, calls] of openCalls) {
        for (const { id, res } of calls.values()) {
          cut.push(new Promise((resolve) => res.once("close", () => resolve())));
          transport
            .send(
              errorReply(
                id,
                SERVER_ERROR,
                "The server is shutting down, so this call was stopped before it finished. Run it again.",
              ),
            )
            .catch(() => {});
        }
      }
      await Promise.race([
        Promise.all(cut),
        new Promise((resolve) => setTimeout(resolve, FLUSH_AT_SHUTDOWN_MS)),
      ]);
      await Promise.all([...sessions.keys()].map(endSession));
      httpServer.closeAllConnections();
      await stopped;
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function bearer(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  return match?.[1]?.trim() || undefined;
}

function hostName(host: string): string {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return (name ?? "").toLowerCase();
}

/** The name a caller's key goes by: enough of its SHA-256 to tell callers apart, nothing more. */
export function keyOwner(apiKey: string): string {
  return `key:${createHash("sha256").update(apiKey).digest("hex").slice(0, 32)}`;
}

/** Comparing digests, neither the token nor its length leaks through timing. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
