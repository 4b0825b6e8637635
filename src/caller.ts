import { createHash } from "node:crypto";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";

/** Who a call is from: jobs and conversations belong to an owner and are unknown to others. */
export interface Caller {
  /** An opaque name for the caller (a hash, never a secret). */
  owner: string;
  /**
   * The caller's own Ollama key, when callers bring their own (MCP_HTTP_KEYS=client): used for
   * this call only, kept in memory only while the call (or its job) runs.
   */
  apiKey?: string | undefined;
}

/** A stdio server, or any transport that names no client, has one caller. */
export const LOCAL_CALLER: Caller = { owner: "local" };

/** What an HTTP transport sets in AuthInfo.extra when the bearer token is the caller's Ollama key. */
export const CALLER_KEY = "ollamaKey";

/** The caller an HTTP transport identified (see transports/http.ts), else the local one. */
export function callerFrom(auth: AuthInfo | undefined): Caller {
  if (!auth?.clientId) return LOCAL_CALLER;
  return auth.extra?.[CALLER_KEY] === true
    ? { owner: auth.clientId, apiKey: auth.token }
    : { owner: auth.clientId };
}

/** The name a caller's key goes by: enough of its SHA-256 to tell callers apart, nothing more. */
export function keyOwner(apiKey: string): string {
  return `key:${createHash("sha256").update(apiKey).digest("hex").slice(0, 32)}`;
}
