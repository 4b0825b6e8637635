import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AuthInfo } from "@modelcontextprotocol/server";
import { keyOwner, ownKeyAuth } from "../caller.js";

/** Who an HTTP request is from: sessions, jobs and conversations belong to that identity. */
export interface HttpCaller {
  identity: string;
  /** Handed to the MCP server with the request; tools read the caller from it (callerFrom). */
  auth: AuthInfo;
}

export type Identify = (req: IncomingMessage) => HttpCaller | undefined;

/**
 * How an HTTP server tells its callers apart: with callers' own keys, by the key (its hash);
 * with MCP_HTTP_TOKEN, the token's holder; on an open loopback server, the remote address.
 * Undefined means the request must authenticate.
 */
export function httpIdentity(options: {
  keys: "server" | "client";
  token: string | undefined;
}): Identify {
  if (options.keys === "client") {
    return (req) => {
      const key = bearer(req.headers.authorization);
      if (!key) return undefined;
      return { identity: keyOwner(key), auth: ownKeyAuth(key) };
    };
  }
  const tokenDigest = options.token ? digest(options.token) : undefined;
  if (tokenDigest) {
    const identity = `token:${tokenDigest.toString("hex").slice(0, 16)}`;
    return (req) => {
      const presented = bearer(req.headers.authorization);
      if (!presented || !timingSafeEqual(digest(presented), tokenDigest)) return undefined;
      return { identity, auth: { token: "", clientId: identity, scopes: [] } };
    };
  }
  return (req) => {
    const identity = `address:${req.socket.remoteAddress ?? "unknown"}`;
    return { identity, auth: { token: "", clientId: identity, scopes: [] } };
  };
}

export function bearer(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
  return match?.[1]?.trim() || undefined;
}

/** Comparing digests, neither the token nor its length leaks through timing. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
