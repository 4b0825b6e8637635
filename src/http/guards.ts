import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { RequestId } from "@modelcontextprotocol/server";
import type { Clock } from "../clock.js";
import { isLoopbackHostname } from "../hosts.js";
import type { OpsLogger } from "../observability.js";

/**
 * Answers with a status and a JSON-RPC error body, the shape MCP clients expect, and closes the
 * connection: a refused client gets no kept-alive socket to hold on to.
 */
export function refuse(
  res: ServerResponse,
  status: number,
  message: string,
  options: { headers?: Record<string, string>; code?: number; id?: RequestId | null } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    jsonrpc: "2.0",
    error: { code: options.code ?? -32000, message },
    id: options.id ?? null,
  });
  res.writeHead(status, {
    "content-type": "application/json",
    connection: "close",
    ...options.headers,
  });
  res.end(body);
}

/**
 * Caps open connections in all and per remote address. A connection past a cap is answered
 * with a plain 503 and closed before anything of it is parsed.
 */
export function limitConnections(
  server: Server,
  limits: { total: number; perAddress: number },
  log: OpsLogger,
): { open(): number } {
  const byAddress = new Map<string, number>();
  let open = 0;
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const fromAddress = byAddress.get(address) ?? 0;
    if (open >= limits.total || fromAddress >= limits.perAddress) {
      const which = open >= limits.total ? "in all" : "from your address";
      log.log("warning", `http: refused a connection: too many open ${which}`, { open });
      const body = JSON.stringify({
        jsonrpc: "2.0",
        error: { code: -32000, message: `Too many open connections ${which}; try again later` },
        id: null,
      });
      socket.on("error", () => {});
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 5\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      socket.destroySoon?.();
      return;
    }
    open++;
    byAddress.set(address, fromAddress + 1);
    socket.once("close", () => {
      open--;
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left > 0) byAddress.set(address, left);
      else byAddress.delete(address);
    });
  });
  return { open: () => open };
}

export type Body =
  | { kind: "ok"; text: string }
  | { kind: "too-large" }
  | { kind: "too-slow" }
  | { kind: "aborted" };

/**
 * The request body as text, within a size and a time bound. Past either, reading stops at once;
 * the caller answers and the connection is closed.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
  clock: Clock,
): Promise<Body> {
  return new Promise((resolve) => {
    if (Number(req.headers["content-length"]) > limit) return resolve({ kind: "too-large" });
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (body: Body) => {
      cancelTimer();
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onError);
      resolve(body);
    };
    const cancelTimer = clock.schedule(timeoutMs, () => finish({ kind: "too-slow" }));
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish({ kind: "too-large" });
      chunks.push(chunk);
    };
    const onEnd = () => finish({ kind: "ok", text: Buffer.concat(chunks).toString("utf8") });
    const onError = () => finish({ kind: "aborted" });
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onError);
  });
}

/**
 * Why a Host header is refused (DNS rebinding protection), or undefined: it must be one of
 * `allowedHosts`, or, when there are none and the server is bound to loopback, a loopback name.
 * With sign-in, clients reach the server by its public name (through a proxy) or on loopback:
 * any other Host is refused, wherever the server listens.
 */
export function hostProblem(
  host: string | undefined,
  options: { allowedHosts: readonly string[]; boundTo: string; signInUrl: string | undefined },
): string | undefined {
  if (!host) return "Forbidden: missing Host header";
  const name = hostName(host);
  const allowed = options.signInUrl
    ? [
        ...(options.allowedHosts.length > 0 ? options.allowedHosts : LOOPBACK_NAMES),
        new URL(options.signInUrl).hostname.toLowerCase(),
      ]
    : options.allowedHosts;
  if (allowed.length > 0) {
    return allowed.includes(name) ? undefined : `Forbidden: Host ${host} is not allowed`;
  }
  if (isLoopbackHostname(options.boundTo) && !isLoopbackHostname(name)) {
    return `Forbidden: Host ${host} is not allowed (DNS rebinding protection)`;
  }
  return undefined;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** Why a browser Origin is refused, or undefined: allowed, loopback, or no Origin at all. */
export function originProblem(
  origin: string | undefined,
  allowedOrigins: readonly string[],
): string | undefined {
  if (!origin) return undefined;
  if (allowedOrigins.includes("*") || allowedOrigins.includes(origin)) return undefined;
  try {
    if (isLoopbackHostname(new URL(origin).hostname)) return undefined;
  } catch {
    // A malformed Origin is as foreign as any.
  }
  return `Forbidden: Origin ${origin} is not allowed`;
}

function hostName(host: string): string {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return (name ?? "").toLowerCase();
}
