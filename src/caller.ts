import { createHash } from "node:crypto";
import type { AuthInfo } from "@modelcontextprotocol/server";

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

/** Where AuthInfo.extra carries the caller's own Ollama key, when its calls run on it. */
export const CALLER_KEY = "ollamaKey";

/** The caller an HTTP transport identified (see http/identify.ts), else the local one. */
export function callerFrom(auth: AuthInfo | undefined): Caller {
  if (!auth?.clientId) return LOCAL_CALLER;
  const apiKey = auth.extra?.[CALLER_KEY];
  return typeof apiKey === "string" ? { owner: auth.clientId, apiKey } : { owner: auth.clientId };
}

/**
 * What an HTTP transport hands on for a caller whose calls run on their own Ollama key (a bearer
 * key, or a signed-in user's): the caller is named by the key, whatever token it came with.
 */
export function ownKeyAuth(apiKey: string, auth: Partial<AuthInfo> = {}): AuthInfo {
  return {
    token: "",
    scopes: [],
    ...auth,
    clientId: keyOwner(apiKey),
    extra: { ...auth.extra, [CALLER_KEY]: apiKey },
  };
}

/** The name a caller's key goes by: enough of its SHA-256 to tell callers apart, nothing more. */
export function keyOwner(apiKey: string): string {
  return `key:${createHash("sha256").update(apiKey).digest("hex").slice(0, 32)}`;
}
