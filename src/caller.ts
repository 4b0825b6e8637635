import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";

/** Who a call is from: jobs and conversations belong to an owner and are unknown to others. */
export interface Caller {
  /** An opaque name for the caller (a hash, never a secret). */
  owner: string;
}

/** A stdio server, or any transport that names no client, has one caller. */
export const LOCAL_CALLER: Caller = { owner: "local" };

/** The caller an HTTP transport identified (see transports/http.ts), else the local one. */
export function callerFrom(auth: AuthInfo | undefined): Caller {
  return auth?.clientId ? { owner: auth.clientId } : LOCAL_CALLER;
}
