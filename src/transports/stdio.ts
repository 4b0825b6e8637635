import type { Readable, Writable } from "node:stream";
import type { JSONRPCMessage, RequestId, Transport } from "@modelcontextprotocol/server";
import { CallsInFlight } from "../calls-in-flight.js";
import type { OpsLogger } from "../observability.js";
import { STOPPED_AT_SHUTDOWN } from "../shutdown.js";
import { checkMessage, errorReply, INVALID_REQUEST, SERVER_ERROR } from "./jsonrpc.js";

export interface StdioOptions {
  /** The longest line (one message) read; a longer one is refused and the server goes on. */
  maxMessageBytes: number;
  log: OpsLogger;
  /** Bytes waiting to be written to stdout past which stdin is not read. */
  highWaterBytes?: number;
}

const NEWLINE = 0x0a;
/** How much of a refused oversized line is kept to look for its id. */
const ID_WINDOW_BYTES = 4_096;

/**
 * Newline-delimited JSON-RPC on stdin/stdout. It stays instead of the SDK's StdioServerTransport
 * for what that one lacks: it answers an invalid request (and an oversized one) with an error
 * and its id instead of ignoring it or closing; it stops reading stdin while the client is not
 * reading stdout, so memory stays bounded; and it knows which requests are unanswered, so that
 * a shutdown can let them finish and answer the rest.
 */
export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly unanswered = new CallsInFlight<string>();
  private pending: Buffer | undefined;
  /** Set while the rest of an oversized line is being skipped. */
  private skipping: { head: Buffer; tail: Buffer; bytes: number } | undefined;
  private reading = false;
  private blocked = false;
  private started = false;
  private readonly highWaterBytes: number;

  constructor(
    private readonly options: StdioOptions,
    private readonly stdin: Readable = process.stdin,
    private readonly stdout: Writable = process.stdout,
  ) {
    this.highWaterBytes = options.highWaterBytes ?? 1024 * 1024;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error("StdioTransport already started");
    this.started = true;
    this.reading = true;
    this.stdin.on("data", this.onData);
    this.stdin.on("error", this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    if ("id" in message && ("result" in message || "error" in message)) {
      this.unanswered.delete(keyOf(message.id as RequestId));
    }
    this.stdout.write(`${JSON.stringify(message)}\n`);
    if (!this.blocked && this.stdout.writableLength > this.highWaterBytes) {
      // The client has stopped reading: read no more requests until it catches up.
      this.blocked = true;
      this.stdin.pause();
      this.stdout.once("drain", () => {
        this.blocked = false;
        if (this.reading) this.stdin.resume();
      });
    }
    return Promise.resolve();
  }

  /** How many requests received are not yet answered. */
  unansweredCount(): number {
    return this.unanswered.size;
  }

  /** Resolves once every request received has been answered. */
  whenAnswered(): Promise<void> {
    return this.unanswered.whenNone();
  }

  /** Answers every unanswered request with an error saying the server is stopping. */
  answerUnansweredAsStopping(): Promise<void> {
    return this.unanswered.answerAll();
  }

  /** Stops taking new messages; replies can still be sent. */
  stopReading(): void {
    if (!this.reading) return;
    this.reading = false;
    this.stdin.off("data", this.onData);
    this.stdin.pause();
  }

  /** Resolves once everything written has left for stdout's reader. */
  flushed(): Promise<void> {
    if (this.stdout.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.stdout.once("drain", resolve);
      this.stdout.once("error", () => resolve());
      this.stdout.once("close", () => resolve());
    });
  }

  async close(): Promise<void> {
    this.stopReading();
    this.stdin.off("error", this.onStreamError);
    this.pending = undefined;
    this.onclose?.();
  }

  private readonly onStreamError = (error: Error) => this.onerror?.(error);

  private readonly onData = (chunk: Buffer) => {
    let start = 0;
    if (this.skipping) {
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) return this.skip(chunk);
      this.skip(chunk.subarray(0, end));
      this.refuseOversized();
      start = end + 1;
    }
    const buffer = this.pending
      ? Buffer.concat([this.pending, chunk.subarray(start)])
      : chunk.subarray(start);
    this.pending = undefined;
    let from = 0;
    for (let end = buffer.indexOf(NEWLINE); end !== -1; end = buffer.indexOf(NEWLINE, from)) {
      if (end - from > this.options.maxMessageBytes) {
        this.skipping = {
          head: buffer.subarray(from, from + ID_WINDOW_BYTES),
          tail: Buffer.alloc(0),
          bytes: 0,
        };
        this.skip(buffer.subarray(from, end));
        this.refuseOversized();
      } else {
        this.deliver(buffer.toString("utf8", from, end));
      }
      from = end + 1;
      if (!this.reading) return;
    }
    const rest = buffer.subarray(from);
    if (rest.length > this.options.maxMessageBytes) {
      this.skipping = {
        head: Buffer.from(rest.subarray(0, ID_WINDOW_BYTES)),
        tail: Buffer.alloc(0),
        bytes: 0,
      };
      this.skip(rest);
    } else if (rest.length > 0) {
      this.pending = Buffer.from(rest);
    }
  };

  private skip(part: Buffer): void {
    const skipping = this.skipping;
    if (!skipping) return;
    skipping.bytes += part.length;
    const tail = Buffer.concat([skipping.tail, part]);
    skipping.tail = Buffer.from(tail.subarray(Math.max(0, tail.length - ID_WINDOW_BYTES)));
  }

  private refuseOversized(): void {
    const skipping = this.skipping;
    this.skipping = undefined;
    if (!skipping) return;
    const reason = `the message is larger than ${this.options.maxMessageBytes} bytes (OLLAMA_MCP_MAX_MESSAGE_BYTES)`;
    const id = idNear(skipping.head.toString("utf8"), skipping.tail.toString("utf8"));
    if (id !== undefined) {
      void this.send(errorReply(id, INVALID_REQUEST, `Invalid Request: ${reason}`));
    }
    this.options.log.log("warning", `stdio: refused a message: ${reason}`, {
      bytes: skipping.bytes,
      answered: id !== undefined,
    });
  }

  private deliver(rawLine: string): void {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.options.log.log("warning", "stdio: ignored a line that is not JSON", {
        bytes: line.length,
      });
      return;
    }
    const checked = checkMessage(value);
    if (!checked.ok) {
      if (checked.reply) void this.send(checked.reply);
      this.options.log.log("warning", `stdio: invalid message: ${checked.reason}`, {
        answered: checked.reply !== undefined,
      });
      return;
    }
    const { message } = checked;
    if ("method" in message && "id" in message) {
      const { id } = message;
      this.unanswered.add(keyOf(id), () =>
        this.send(errorReply(id, SERVER_ERROR, STOPPED_AT_SHUTDOWN)),
      );
    }
    this.onmessage?.(message);
  }
}

function keyOf(id: RequestId): string {
  return `${typeof id}:${id}`;
}

const ID_PATTERN = /"id"\s*:\s*(-?\d{1,15}(?![\d.eE])|"(?:[^"\\]|\\.){0,200}")/;

/**
 * The id of an oversized request, read from its first and last bytes: clients put it either
 * before the params or at the very end. Nothing else of the line is read.
 */
function idNear(head: string, tail: string): RequestId | undefined {
  const params = head.indexOf('"params"');
  const beforeParams = params === -1 ? head : head.slice(0, params);
  const match =
    ID_PATTERN.exec(beforeParams) ?? new RegExp(`${ID_PATTERN.source}\\s*}\\s*$`).exec(tail);
  const raw = match?.[1];
  if (raw === undefined) return undefined;
  try {
    const id: unknown = JSON.parse(raw);
    return typeof id === "string" || typeof id === "number" ? id : undefined;
  } catch {
    return undefined;
  }
}
