import { PassThrough, Writable } from "node:stream";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { StdioTransport } from "../src/transports/stdio.js";

function open() {
  const stdin = new PassThrough();
  const written: string[] = [];
  const stdout = new PassThrough();
  stdout.on("data", (chunk: Buffer) => written.push(chunk.toString()));
  const transport = new StdioTransport(stdin, stdout);
  const messages: unknown[] = [];
  const errors: string[] = [];
  transport.onmessage = (message) => messages.push(message);
  transport.onerror = (error) => errors.push(error.message);
  return { stdin, transport, messages, errors, written };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));
const ping = (id: number) => ({ jsonrpc: "2.0", id, method: "ping" });

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
    expect(t.errors).toEqual([]);
  });

  it("reports a line that is not a JSON-RPC object and goes on reading", async () => {
    const t = open();
    await t.transport.start();
    t.stdin.write(`not json\n[1,2]\n\n   \n${JSON.stringify(ping(3))}\n`);
    await flush();
    expect(t.errors).toHaveLength(2);
    expect(t.errors[0]).toMatch(/JSON/);
    expect(t.errors[1]).toMatch(/not a JSON-RPC message object/);
    expect(t.messages).toEqual([ping(3)]);
  });

  it("gives up on a line that never ends instead of buffering without bound", async () => {
    const t = open();
    let closed = false;
    t.transport.onclose = () => {
      closed = true;
    };
    await t.transport.start();
    const mebibyte = "x".repeat(1024 * 1024);
    for (let i = 0; i < 11; i++) t.stdin.write(mebibyte);
    await flush();
    expect(t.errors).toEqual([expect.stringMatching(/exceeded 10485760 bytes/)]);
    expect(closed).toBe(true);
  });

  it("writes one line per message and waits for drain when the pipe is full", async () => {
    const stdin = new PassThrough();
    const lines: string[] = [];
    let release: (() => void) | undefined;
    const stdout = new Writable({
      highWaterMark: 16,
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        release = callback;
      },
    });
    const transport = new StdioTransport(stdin, stdout);
    await transport.start();
    let sent = false;
    const sending = transport.send(ping(4) as JSONRPCMessage).then(() => {
      sent = true;
    });
    await flush();
    expect(lines).toEqual([`${JSON.stringify(ping(4))}\n`]);
    expect(sent).toBe(false);
    release?.();
    await sending;
    expect(sent).toBe(true);
  });

  it("waits for one drain however many sends are held back", async () => {
    const callbacks: (() => void)[] = [];
    const stdout = new Writable({
      highWaterMark: 16,
      write(_chunk: Buffer, _encoding, callback) {
        callbacks.push(callback);
      },
    });
    const transport = new StdioTransport(new PassThrough(), stdout);
    await transport.start();
    const sends = Array.from({ length: 30 }, (_, i) => transport.send(ping(i) as JSONRPCMessage));
    expect(stdout.listenerCount("drain")).toBe(1);
    while (callbacks.length) {
      callbacks.shift()?.();
      await flush();
    }
    await Promise.all(sends);
    expect(stdout.listenerCount("drain")).toBe(0);
  });

  it("stops reading on close", async () => {
    const t = open();
    await t.transport.start();
    await t.transport.close();
    t.stdin.write(`${JSON.stringify(ping(5))}\n`);
    await flush();
    expect(t.messages).toEqual([]);
  });
});
