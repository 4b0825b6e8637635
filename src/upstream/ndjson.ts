import type { Redact } from "../redact.js";

const MALFORMED_LINE = `${JSON.stringify({ error: "a line of the response stream was not valid JSON" })}\n`;

/**
 * Checks a streamed NDJSON body line by line before ollama-js parses it. ollama-js skips a line
 * it cannot parse and prints it with console.warn, which would hide the fault and put model
 * output in the logs: such a line becomes an error line instead. The text of an `{"error": ...}`
 * line is redacted, since the library quotes it.
 */
export function wellFormedNdjson(redact: Redact): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  const checkLine = (line: string): string => {
    if (!line.trim()) return "";
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return MALFORMED_LINE;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      return MALFORMED_LINE;
    const error = (parsed as { error?: unknown }).error;
    if (error !== undefined) {
      const text = typeof error === "string" ? error : JSON.stringify(error);
      return `${JSON.stringify({ error: redact(text) })}\n`;
    }
    return `${line}\n`;
  };
  return new TransformStream({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      const out = lines.map(checkLine).join("");
      if (out) controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      const out = checkLine(pending + decoder.decode());
      if (out) controller.enqueue(encoder.encode(out));
    },
  });
}
