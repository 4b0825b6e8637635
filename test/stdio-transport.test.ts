import { PassThrough, Writable } from "node:stream";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { StdioTransport } from "../src/transports/stdio.js";

function open(options: { maxMessageBytes?: number; stdout?: Writable } = {}) {
  const stdin = new PassThrough();
  const written: string[] = [];
  const stdout = options.stdout ?? new PassThrough();
  if (!options.stdout) stdout.on("data", (chunk: Buffer) => written.push(chunk.toString()));
  const logs: string[] = [];
  const transport = new StdioTransport(
    {
      maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
      log: {
        log: (level, message, fields) =>
          logs.push(`${level}: ${message} ${JSON.stringify(fields ?? {})}`),
      },
    },
    stdin,
    stdout,
  );
  const messages: unknown[] = [];
  transport.onmessage = (message) => messages.push(message);
  const replies = () =>
    written
      .join("")
      .split("\n")
      .filter(Boolean)
      .map(
        (line) => JSON.parse(line) as { id?: unknown; error?: { code: number; message: string } },
      );
  return { stdin, transport, messages, logs, written, replies };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));
const ping = (id: number | string) => ({ jsonrpc: "2.0", id, method: "ping" });
const line = (value: unknown) => `${JSON.stringify(value)}\n`;

describe("the stdio transport", () => {
  it("reads messages split anywhere, even inside a multi-byte character", async () => {
    const t = open();
    await t.transport.start();
    const text = `${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "x", params: { q: "naïve café ☕" } })}\n${JSON.stringify(ping(2))}\r\n`;
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += 7) t.stdin.write(bytes.subarray(i, i + 7));
    await flush();
    expect(t.messages).toEqual([
      { jsonrpc: "2.0", id: 1, method: "x", params: { q: "naïve café ☕" } },
      ping(2),
    ]);
  });

  it("answers an invalid request with Invalid Request and its id, and goes on", async () => {
    const t = open();
    await t.transport.start();
    t.stdin.write(line({ jsonrpc: "2.0", id: 7, method: "tools/call", params: "not an object" }));
    t.stdin.write(line({ jsonrpc: "2.0", id: "abc", method: 42 }));
    t.stdin.write(line({ jsonrpc: "1.0", id: 8, method: "ping" }));
    t.stdin.write(line(ping(9)));
    await flush();
    expect(t.replies()).toEqual([
      {
        jsonrpc: "2.0",
        id: 7,
        error: { code: -32600, message: "Invalid Request: params must be an object" },
      },
      {
        jsonrpc: "2.0",
        id: "abc",
        error: { code: -32600, message: "Invalid Request: method must be a string" },
      },
      {
        jsonrpc: "2.0",
        id: 8,
        error: { code: -32600, message: 'Invalid Request: jsonrpc must be "2.0"' },
      },
    ]);
    expect(t.messages).toEqual([ping(9)]);
  });

  it("logs, without answering, what has no id to answer, and never logs the content", async () => {
    const t = open();
    await t.transport.start();
    t.stdin.write("not json SECRET\n[1,2]\n\n   \n");
    t.stdin.write(line({ jsonrpc: "2.0", method: "notifications/x", params: 5, secret: "SECRET" }));
    t.stdin.write(line(ping(3)));
    await flush();
    expect(t.replies()).toEqual([]);
    expect(t.messages).toEqual([ping(3)]);
    expect(t.logs).toEqual([
      expect.stringMatching(/ignored a line that is not JSON/),
      expect.stringMatching(/batches are not supported/),
      expect.stringMatching(/params must be an object/),
    ]);
    expect(t.logs.join("\n")).not.toContain("SECRET");
  });

  it("answers a message over the size limit with an error and its id, and keeps serving", async () => {
    const t = open({ maxMessageBytes: 1024 });
    await t.transport.start();
    const big = { jsonrpc: "2.0", id: 41, method: "tools/call", params: { pad: "x".repeat(5000) } };
    const text = line(big);
    for (let i = 0; i < text.length; i += 700) t.stdin.write(text.slice(i, i + 700));
    // The id can also come last.
    t.stdin.write(
      `{"jsonrpc":"2.0","method":"tools/call","params":{"pad":"${"y".repeat(3000)}"},"id":"late"}\n`,
    );
    t.stdin.write(
      `{"jsonrpc":"2.0","method":"x","params":{"pad":"${"z".repeat(3000)}"}}\n${line(ping(42))}`,
    );
    await flush();
    expect(t.replies()).toEqual([
      {
        jsonrpc: "2.0",
        id: 41,
        error: {
          code: -32600,
          message:
            "Invalid Request: the message is larger than 1024 bytes (OLLAMA_MCP_MAX_MESSAGE_BYTES)",
        },
      },
      expect.objectContaining({ id: "late", error: expect.objectContaining({ code: -32600 }) }),
    ]);
    expect(t.messages).toEqual([ping(42)]);
    expect(t.logs.filter((l) => /larger than 1024 bytes/.test(l))).toHaveLength(3);
  });

  it("knows which requests are unanswered, and can answer them as stopping", async () => {
    const t = open();
    await t.transport.start();
    t.stdin.write(
      line(ping(1)) +
        line(ping("two")) +
        line({ jsonrpc: "2.0", method: "notifications/initialized" }),
    );
    await flush();
    expect(t.transport.unansweredCount()).toBe(2);
    let idle = false;
    void t.transport.whenAnswered().then(() => {
      idle = true;
    });
    await t.transport.send({ jsonrpc: "2.0", id: 1, result: {} });
    await flush();
    expect(idle).toBe(false);
    t.transport.answerUnansweredAsStopping();
    await flush();
    expect(idle).toBe(true);
    expect(t.replies().at(-1)).toMatchObject({
      id: "two",
      error: { code: -32000, message: expect.stringMatching(/shutting down/) },
    });
  });

  it("stops reading stdin while stdout is blocked past its high-water mark, and resumes", async () => {
    let release: (() => void) | undefined;
    const stdout = new Writable({
      highWaterMark: 16,
      write(_chunk: Buffer, _encoding, callback) {
        release = callback;
      },
    });
    const stdin = new PassThrough();
    const transport = new StdioTransport(
      { maxMessageBytes: 1024, log: { log: () => {} }, highWaterBytes: 64 },
      stdin,
      stdout,
    );
    const received: unknown[] = [];
    transport.onmessage = (m) => received.push(m);
    await transport.start();
    await transport.send({
      jsonrpc: "2.0",
      id: 1,
      result: { pad: "x".repeat(200) },
    } as JSONRPCMessage);
    expect(stdin.isPaused()).toBe(true);
    stdin.write(line(ping(2)));
    await flush();
    expect(received).toEqual([]);
    release?.();
    await flush();
    expect(stdin.isPaused()).toBe(false);
    await flush();
    expect(received).toEqual([ping(2)]);
  });

  it("stops reading when told to", async () => {
    const t = open();
    await t.transport.start();
    t.transport.stopReading();
    t.stdin.write(line(ping(5)));
    await flush();
    expect(t.messages).toEqual([]);
  });
});
