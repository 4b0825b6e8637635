import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
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
  type ProtocolEra,
} from "@modelcontextprotocol/server";
import type { Clock } from "../clock.js";
import type { HttpOptions } from "../config.js";
import type { OpsLogger } from "../observability.js";
import { finishCallsInFlight } from "../shutdown.js";
import { checkMessage, INVALID_REQUEST } from "../transports/jsonrpc.js";
import { readBody, refuse } from "./guards.js";
import type { HttpCaller } from "./identify.js";
import { OpenCalls, Sessions } from "./sessions.js";

export interface McpEndpointDeps {
  options: HttpOptions;
  /** Builds one MCP server: per 2025 session, or per request (2026-07-28, or stateless 2025). */
  createMcpServer: (era: ProtocolEra) => McpServer | Promise<McpServer>;
  log: OpsLogger;
  clock: Clock;
}

export interface McpEndpoint {
  /** An MCP request from a caller the guards passed and authentication named. */
  serve(req: IncomingMessage, res: ServerResponse, caller: HttpCaller): Promise<void>;
  sessionCount(): number;
  /**
   * Lets calls in flight finish within the grace period, answers those still running with a
   * shutting-down error, then ends listen streams and sessions.
   */
  close(): Promise<void>;
}

/**
 * /mcp in both protocol eras. A 2026-07-28 request carries its era in its envelope and is
 * answered on its own by a fresh server (createMcpHandler): no session, so any instance can
 * answer it. A 2025 request goes to its session (a session is how its notifications/cancelled
 * reaches the call it names), or, with MCP_HTTP_STATELESS, to a server of its own.
 */
export function createMcpEndpoint(deps: McpEndpointDeps): McpEndpoint {
  const { options, log, clock } = deps;
  const calls = new OpenCalls();
  const legacy: Legacy = {
    deps,
    calls,
    sessions: new Sessions(options, clock, log, (s) => calls.count(s.transport) > 0),
  };
  const modern = createMcpHandler(({ era }) => deps.createMcpServer(era), {
    legacy: "reject",
    maxRequestBodySize: options.maxBodyBytes,
    onerror: (error) => log.log("debug", `http: ${error.message}`),
  });
  const serveModern = toNodeHandler(modern, { maxRequestBodySize: options.maxBodyBytes });

  async function serve(req: IncomingMessage, res: ServerResponse, caller: HttpCaller) {
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      return refuse(res, 405, `Method ${req.method} not allowed`, {
        headers: { allow: "GET, POST, DELETE" },
      });
    }
    const parsed =
      req.method === "POST"
        ? await readMessages(req, res, options, clock)
        : { body: undefined, messages: [] };
    if (!parsed) return;
    (req as IncomingMessage & { auth?: AuthInfo }).auth = caller.auth;
    if (!(await isLegacyRequest(requestHead(req), parsed.body))) {
      // A request the client abandons (its stream closed) aborts the call and its upstream
      // request: toNodeHandler aborts the exchange when the response closes unfinished.
      if (parsed.messages.some(isCall)) calls.trackExchange(res);
      return serveModern(req, res, parsed.body);
    }
    if (options.stateless) return serveStateless(legacy, req, res, parsed);
    return serveStateful(legacy, req, res, parsed, caller);
  }

  return {
    serve,
    sessionCount: () => legacy.sessions.size,
    async close() {
      await finishCallsInFlight({
        clock,
        graceMs: options.shutdownGraceMs,
        answered: calls.whenNone(),
        answerRest: () => calls.answerAll(clock),
      });
      // Ends subscriptions/listen streams, and aborts 2026-07-28 calls still running.
      await modern.close();
      await legacy.sessions.endAll();
    },
  };
}

/** What serving 2025 requests takes: the server factory, the open calls, the sessions. */
interface Legacy {
  deps: McpEndpointDeps;
  calls: OpenCalls;
  sessions: Sessions;
}

interface Parsed {
  body: unknown;
  messages: JSONRPCMessage[];
}

/** MCP_HTTP_STATELESS: a 2025 request answered by a server of its own. */
async function serveStateless(
  { deps, calls }: Legacy,
  req: IncomingMessage,
  res: ServerResponse,
  { body, messages }: Parsed,
) {
  if (req.method !== "POST") {
    return refuse(res, 405, "This server is stateless: only POST is supported", {
      headers: { allow: "POST" },
    });
  }
  const server = await deps.createMcpServer("legacy");
  const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  // Closing the server aborts its in-flight handlers, and with them the upstream requests.
  res.on("close", () => void server.close().catch(() => {}));
  await server.connect(transport);
  calls.track(transport, res, messages);
  await transport.handleRequest(req, res, body);
}

/** A 2025 request in its session, or an initialize that opens one. */
async function serveStateful(
  legacy: Legacy,
  req: IncomingMessage,
  res: ServerResponse,
  parsed: Parsed,
  caller: HttpCaller,
) {
  const { sessions, calls } = legacy;
  const { body, messages } = parsed;
  const sessionId = header(req, "mcp-session-id");
  if (!sessionId) return openSession(legacy, req, res, parsed, caller);
  const session = sessions.find(sessionId, caller.identity);
  if (!session) {
    return refuse(res, 404, "Session not found: it ended or expired; start a new one", {
      code: -32001,
    });
  }
  sessions.touch(session);
  if (messages.some((m) => isJSONRPCNotification(m) && m.method === "notifications/initialized")) {
    session.initialized = true;
  }
  if (req.method === "POST") {
    calls.track(session.transport, res, messages);
    res.on("close", () => sessions.touch(session));
  }
  await session.transport.handleRequest(req, res, body);
  if (req.method === "DELETE") await sessions.end(sessionId);
}

async function openSession(
  { deps, calls, sessions }: Legacy,
  req: IncomingMessage,
  res: ServerResponse,
  { body, messages }: Parsed,
  caller: HttpCaller,
) {
  if (req.method !== "POST" || !messages.some((m) => isInitializeRequest(m))) {
    return refuse(res, 400, "Bad Request: send an initialize request first, without a session id");
  }
  const place = sessions.reserve(caller.identity);
  if ("refusal" in place) {
    return refuse(res, 503, place.refusal, { headers: { "retry-after": "30" } });
  }
  const server = await deps.createMcpServer("legacy");
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

/** A POST's JSON-RPC messages; undefined when the request was answered with an error. */
async function readMessages(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpOptions,
  clock: Clock,
): Promise<{ body: unknown; messages: JSONRPCMessage[] } | undefined> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) {
    refuse(res, 415, "Unsupported Media Type: send Content-Type: application/json");
    return undefined;
  }
  const read = await readBody(req, options.maxBodyBytes, options.bodyTimeoutMs, clock);
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
