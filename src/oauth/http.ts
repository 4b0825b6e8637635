import type { IncomingMessage, ServerResponse } from "node:http";
import proxyAddr from "proxy-addr";
import type { Clock } from "../clock.js";
import { readBody } from "../http/guards.js";

/** An OAuth error answer (RFC 6749 §5.2): its status, code and a sentence for people. */
export class OAuthFailure extends Error {
  override name = "OAuthFailure";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The bodies OAuth's endpoints take are small; anything larger is not a client of ours. */
const MAX_FORM_BYTES = 16 * 1024;

/**
 * A form (or, for registration, JSON) body within the same size and time bounds as /mcp's:
 * a slow or endless body is cut off and answered, never left holding a connection.
 */
export async function readOAuthBody(
  req: IncomingMessage,
  kind: "form" | "json",
  timeoutMs: number,
  clock: Clock,
): Promise<Record<string, unknown>> {
  const read = await readBody(req, MAX_FORM_BYTES, timeoutMs, clock);
  if (read.kind === "too-large") {
    throw new OAuthFailure(
      413,
      "invalid_request",
      `The request is larger than ${MAX_FORM_BYTES} bytes.`,
    );
  }
  if (read.kind === "too-slow") {
    throw new OAuthFailure(
      408,
      "invalid_request",
      `The request was not received within ${timeoutMs} ms.`,
    );
  }
  if (read.kind === "aborted")
    throw new OAuthFailure(400, "invalid_request", "The request was cut off.");
  const type = req.headers["content-type"] ?? "";
  if (kind === "json") {
    if (!/^application\/json\b/i.test(type)) {
      throw new OAuthFailure(415, "invalid_request", "Send the registration as application/json.");
    }
    try {
      const body: unknown = JSON.parse(read.text);
      if (body && typeof body === "object" && !Array.isArray(body))
        return body as Record<string, unknown>;
    } catch {
      // answered below
    }
    throw new OAuthFailure(
      400,
      "invalid_client_metadata",
      "The registration is not a JSON object.",
    );
  }
  if (read.text && !/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new OAuthFailure(
      415,
      "invalid_request",
      "Send the parameters as application/x-www-form-urlencoded.",
    );
  }
  return formFields(new URLSearchParams(read.text));
}

/** Each parameter once (RFC 6749 §3.1): a repeated one is refused. */
export function formFields(params: URLSearchParams): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of params) {
    if (name in fields) {
      throw new OAuthFailure(
        400,
        "invalid_request",
        `The parameter ${name} is given more than once.`,
      );
    }
    fields[name] = value;
  }
  return fields;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    ...headers,
  });
  res.end(JSON.stringify(body));
}

export function sendFailure(res: ServerResponse, failure: OAuthFailure): void {
  sendJson(
    res,
    failure.status,
    { error: failure.code, error_description: failure.message },
    { ...failure.headers, ...(failure.status >= 400 && { connection: "close" }) },
  );
}

/** Browser-based clients read discovery and call registration and tokens from their own origin. */
export const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
  "access-control-max-age": "86400",
};

/**
 * Who sent a request: the socket's address, or the address the trusted proxies say (as
 * Express's "trust proxy" reads X-Forwarded-For).
 */
export function clientAddressOf(trusted: readonly string[]): (req: IncomingMessage) => string {
  const trust = proxyAddr.compile([...trusted]);
  return (req) => proxyAddr(req, trust);
}

/**
 * The unit a limit counts: an IPv4 address, or the /56 an IPv6 address is in (one subscriber's
 * whole allocation, so a client cannot spread its attempts over the addresses it holds).
 */
export function addressGroup(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!address.includes(":")) return address;
  const [head = "", tail = ""] = address.split("::");
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const missing = 8 - headParts.length - tailParts.length;
  const parts = [...headParts, ...Array(Math.max(0, missing)).fill("0"), ...tailParts].map((p) =>
    Number.parseInt(p || "0", 16),
  );
  const prefix = [parts[0], parts[1], parts[2], (parts[3] ?? 0) & 0xff00];
  return `${prefix.map((p) => (p ?? 0).toString(16)).join(":")}::/56`;
}
