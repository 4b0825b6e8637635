import type { JSONRPCErrorResponse, JSONRPCMessage, RequestId } from "@modelcontextprotocol/server";
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
} from "@modelcontextprotocol/server";

export const INVALID_REQUEST = -32600;
/** The code MCP servers use for a server-side condition that is not the request's fault. */
export const SERVER_ERROR = -32000;

export type Checked =
  | { ok: true; message: JSONRPCMessage }
  /** `reply` is set when the message carried an id to answer: JSON-RPC answers every request. */
  | { ok: false; reason: string; reply: JSONRPCErrorResponse | undefined };

/**
 * Sorts one incoming value with the SDK's own guards. The SDK ignores a value that fits none of
 * them (a request whose params is not an object, say) without answering, so the transports
 * answer such a request themselves with Invalid Request and its id.
 */
export function checkMessage(value: unknown): Checked {
  if (
    isJSONRPCRequest(value) ||
    isJSONRPCNotification(value) ||
    isJSONRPCResultResponse(value) ||
    isJSONRPCErrorResponse(value)
  ) {
    return { ok: true, message: value };
  }
  const reason = describeProblem(value);
  const id = requestIdOf(value);
  return {
    ok: false,
    reason,
    reply:
      id === undefined ? undefined : errorReply(id, INVALID_REQUEST, `Invalid Request: ${reason}`),
  };
}

export function errorReply(id: RequestId, code: number, message: string): JSONRPCErrorResponse {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

/** The id of something that is meant as a request (not a response), when it can be read. */
export function requestIdOf(value: unknown): RequestId | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if ("result" in record || "error" in record) return undefined;
  const { id } = record;
  if (typeof id === "string") return id;
  if (typeof id === "number" && Number.isFinite(id)) return id;
  return undefined;
}

function describeProblem(value: unknown): string {
  if (value === null || typeof value !== "object") return "a message must be a JSON object";
  if (Array.isArray(value)) return "batches are not supported; send one message per line";
  const record = value as Record<string, unknown>;
  if (record.jsonrpc !== "2.0") return 'jsonrpc must be "2.0"';
  if ("method" in record) {
    if (typeof record.method !== "string") return "method must be a string";
    if ("id" in record && requestIdOf(record) === undefined) {
      return "id must be a string or a number";
    }
    if (
      "params" in record &&
      (record.params === null || typeof record.params !== "object" || Array.isArray(record.params))
    ) {
      return "params must be an object";
    }
    return "the request's params do not have the form MCP requires";
  }
  if ("result" in record || "error" in record)
    return "a response needs an id and a result or an error";
  return "a message needs a method (a request or notification), or a result or error (a response)";
}
