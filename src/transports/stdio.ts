import type { Readable, Writable } from "node:stream";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** The SDK's limit for one unfinished line, kept so a client cannot make the buffer grow forever. */
const MAX_BUFFERED_BYTES = 10 * 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * Newline-delimited JSON-RPC on stdin/stdout, as the SDK's StdioServerTransport, but without its
 * Zod parse of every incoming message: the protocol layer checks each message against the same
 * schemas again before acting on it, and the first check was a tenth of a web_search call's cost
 * in this server. A line that is not a JSON object is reported through onerror, as there.
 */
export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private pending: Buffer | undefined;
  private drained: Promise<void> | undefined;
  private started = false;

  constructor(
    private readonly stdin: Readable = process.stdin,
    private readonly stdout: Writable = process.stdout,
  ) {}

  async start(): Promise<void> {
    if (this.started) throw new Error("StdioTransport already started");
    this.started = true;
    this.stdin.on("data", this.onData);
    this.stdin.on("error", this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.stdout.write(`${JSON.stringify(message)}\n`)) return Promise.resolve();
    // One listener however many sends wait: a burst of results must not pile up "drain"
    // listeners (Node warns past ten).
    this.drained ??= new Promise((resolve) =>
      this.stdout.once("drain", () => {
        this.drained = undefined;
        resolve();
      }),
    );
    return this.drained;
  }

  async close(): Promise<void> {
    this.stdin.off("data", this.onData);
    this.stdin.off("error", this.onStreamError);
    if (this.stdin.listenerCount("data") === 0) this.stdin.pause();
    this.pending = undefined;
    this.onclose?.();
  }

  private readonly onStreamError = (error: Error) => this.onerror?.(error);

  private readonly onData = (chunk: Buffer) => {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (let end = buffer.indexOf(NEWLINE); end !== -1; end = buffer.indexOf(NEWLINE, start)) {
      const line = buffer.toString("utf8", start, end);
      start = end + 1;
      this.deliver(line);
    }
    this.pending = start < buffer.length ? buffer.subarray(start) : undefined;
    if ((this.pending?.length ?? 0) > MAX_BUFFERED_BYTES) {
      this.pending = undefined;
      this.onerror?.(new Error(`a message exceeded ${MAX_BUFFERED_BYTES} bytes without a newline`));
      this.close().catch(() => {});
    }
  };

  private deliver(rawLine: string): void {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (!line.trim()) return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.onerror?.(error as Error);
      return;
    }
    if (message === null || typeof message !== "object" || Array.isArray(message)) {
      this.onerror?.(new Error("a stdin line was JSON but not a JSON-RPC message object"));
      return;
    }
    this.onmessage?.(message as JSONRPCMessage);
  }
}
