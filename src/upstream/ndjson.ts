import type { Service } from "./errors.js";
import { StreamError } from "./errors.js";

/**
 * The objects of a streamed NDJSON answer, each line parsed once. A line that is not a JSON
 * object is a fault of the stream, not a line to skip: it ends the stream with a StreamError.
 * Leaving early (a break or a throw in the reader) cancels the body.
 */
export async function* ndjsonObjects(
  body: ReadableStream<Uint8Array>,
  service: Service,
): AsyncGenerator<Record<string, unknown>> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  const parse = (line: string): Record<string, unknown> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new StreamError("a line of the answer was not valid JSON", { cause: error, service });
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new StreamError("a line of the answer was not a JSON object", { service });
    }
    return parsed as Record<string, unknown>;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      pending += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const lines = pending.split("\n");
      pending = done ? "" : (lines.pop() ?? "");
      for (const line of lines) if (line.trim()) yield parse(line);
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
