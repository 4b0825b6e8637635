import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  isInitializeRequest,
  isJSONRPCRequest,
  type JSONRPCMessage,
} from "@modelcontextprotocol/sdk/types.js";
import { type HttpOptions, isLoopbackHostname } from "../config.js";
import type { OpsLogger } from "../observability.js";
import { VERSION } from "../version.js";

export const MCP_PATH = "/mcp";
const HEALTH_PATH = "/healthz";

export interface HttpServerDeps {
  options: HttpOptions;
  /** Builds one MCP server; called per session (stateful) or per request (stateless). */
  createMcpServer: () => McpServer;
  log: OpsLogger;
}

export interface RunningHttpServer {
  url: string;
  sessionCount(): number;
  /** Stops accepting, lets in-flight requests finish within the grace period, closes sessions. */
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastActive: number;
  /** POSTs being answered: the calls a graceful shutdown waits for. */
  inFlight: number;
}

/** Answers with a status and a JSON-RPC error body, the shape MCP clients expect. */
function reject(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
  code = -32000,
): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

export async function startHttpServer(deps: HttpServerDeps): Promise<RunningHttpServer> {
  const { options, log } = deps;
  const sessions = new Map<string, Session>();
  const tokenDigest = options.token ? digest(options.token) : undefined;
  let pendingSessions = 0;
  let inFlight = 0;
  let closing = false;

  const httpServer = createServer((req, res) => {
    inFlight++;
    res.on("close", () => inFlight--);
    handle(req, res).catch((error: unknown) => {
      log.log("error", "http request failed", { error: (error as Error)?.name ?? "error" });
      reject(res, 500, "Internal server error");
    });
  });
  // Long generations stream for minutes; the MCP session, not Node, decides when to give up.
  httpServer.requestTimeout = 0;
  httpServer.headersTimeout = 60_000;

  const sweeper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, session] of sessions) {
        if (session.inFlight === 0 && now - session.lastActive > options.sessionIdleMs) {
          log.log("info", "session expired", { idle_ms: now - session.lastActive });
          void endSession(id);
        }
      }
    },
    Math.min(60_000, options.sessionIdleMs),
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
    if (path !== MCP_PATH) return reject(res, 404, `Not found: the MCP endpoint is ${MCP_PATH}`);
    if (closing) return reject(res, 503, "Server is shutting down", { connection: "close" });

    const hostProblem = checkHost(req.headers.host);
    if (hostProblem) return reject(res, 403, hostProblem);
    const originProblem = checkOrigin(req.headers.origin);
    if (originProblem) return reject(res, 403, originProblem);
    if (tokenDigest && !hasToken(req.headers.authorization, tokenDigest)) {
      return reject(res, 401, "Unauthorized: send Authorization: Bearer <MCP_HTTP_TOKEN>", {
        "www-authenticate": 'Bearer realm="ollama-cloud-mcp"',
      });
    }
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      return reject(res, 405, `Method ${req.method} not allowed`, { allow: "GET, POST, DELETE" });
    }

    let body: unknown;
    if (req.method === "POST") {
      const type = req.headers["content-type"] ?? "";
      if (!/^application\/json\b/i.test(type)) {
        return reject(res, 415, "Unsupported Media Type: send Content-Type: application/json");
      }
      const raw = await readBody(req, options.maxBodyBytes);
      if (raw === undefined) {
        return reject(res, 413, `Request body larger than ${options.maxBodyBytes} bytes`, {
          connection: "close",
        });
      }
      try {
        body = JSON.parse(raw);
      } catch {
        return reject(res, 400, "Parse error: the body is not valid JSON", {}, -32700);
      }
    }

    if (options.stateless) return serveStateless(req, res, body);
    return serveStateful(req, res, body);
  }

  async function serveStateless(req: IncomingMessage, res: ServerResponse, body: unknown) {
    if (req.method !== "POST") {
      return reject(res, 405, "This server is stateless: only POST is supported", {
        allow: "POST",
      });
    }
    const server = deps.createMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    // Closing the server aborts its in-flight handlers, and with them the upstream requests.
    res.on("close", () => void server.close().catch(() => {}));
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  async function serveStateful(req: IncomingMessage, res: ServerResponse, body: unknown) {
    const sessionId = header(req, "mcp-session-id");
    if (sessionId) {
      const session = sessions.get(sessionId);
      if (!session) {
        return reject(
          res,
          404,
          "Session not found: it ended or expired; start a new one",
          {},
          -32001,
        );
      }
      session.lastActive = Date.now();
      // A GET is the standalone notification stream, open for as long as the client is: not a call.
      if (req.method === "POST") {
        session.inFlight++;
        cancelOnDisconnect(res, session.transport, body);
        res.on("close", () => {
          session.inFlight--;
          session.lastActive = Date.now();
        });
      }
      await session.transport.handleRequest(req, res, body);
      if (req.method === "DELETE") await endSession(sessionId);
      return;
    }
    if (req.method !== "POST" || !isInitialize(body)) {
      return reject(
        res,
        400,
        "Bad Request: send an initialize request first, without a session id",
      );
    }
    if (sessions.size + pendingSessions >= options.maxSessions) {
      return reject(
        res,
        503,
        `Too many sessions (the limit is ${options.maxSessions}); close unused sessions or try again later`,
        { "retry-after": "30" },
      );
    }
    pendingSessions++;
    const server = deps.createMcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        pendingSessions--;
        sessions.set(id, { transport, server, lastActive: Date.now(), inFlight: 0 });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    res.on("close", () => {
      if (!transport.sessionId) {
        pendingSessions--;
        void server.close().catch(() => {});
      }
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
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
      // The process-wide count includes standalone GET streams, which never end on their own.
      const activeCalls = () => [...sessions.values()].reduce((n, s) => n + s.inFlight, 0);
      while ((options.stateless ? inFlight : activeCalls()) > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await Promise.all([...sessions.keys()].map(endSession));
      httpServer.closeAllConnections();
      await stopped;
    },
  };
}

/**
 * The SDK does not cancel a request when its HTTP client goes away, so a disconnect is turned
 * into the protocol's own `notifications/cancelled` for each request in that POST.
 */
function cancelOnDisconnect(
  res: ServerResponse,
  transport: StreamableHTTPServerTransport,
  body: unknown,
): void {
  const requests = (Array.isArray(body) ? body : [body]).filter((m) =>
    isJSONRPCRequest(m as JSONRPCMessage),
  ) as { id: string | number }[];
  if (requests.length === 0) return;
  res.on("close", () => {
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

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => isInitializeRequest(m));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function hostName(host: string): string {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return (name ?? "").toLowerCase();
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Compares digests, so neither the token nor its length leaks through timing. */
function hasToken(authorization: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  if (!match?.[1]) return false;
  return timingSafeEqual(digest(match[1].trim()), expected);
}

/**
 * The body as text, or undefined as soon as it passes `limit` bytes; the rest is drained so the
 * 413 can still be written.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, rejectRead) => {
    if (Number(req.headers["content-length"]) > limit) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off("data", onData);
      req.resume();
      resolve(undefined);
    };
    req.on("data", onData);
    req.on("end", () =>
      resolve(size <= limit ? Buffer.concat(chunks).toString("utf8") : undefined),
    );
    req.on("error", rejectRead);
  });
}
