import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { INITIALIZE_REQUEST } from "../test/spawn-bin.js";

/**
 * The least a client can do over stdio: write a JSON-RPC line, wait for the line with the same
 * id, parse it. Timing calls with it shows what the server adds, without a client library's
 * own checks of the result.
 */
export class RawStdioClient {
  private readonly waiting = new Map<number, (message: unknown) => void>();
  private nextId = 100;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const message = JSON.parse(line) as { id?: number };
      if (message.id === undefined) return;
      this.waiting.get(message.id)?.(message);
      this.waiting.delete(message.id);
    });
  }

  static async start(command: string, args: string[], env: NodeJS.ProcessEnv) {
    const client = new RawStdioClient(
      spawn(command, args, { env, stdio: ["pipe", "pipe", "ignore"] }),
    );
    await client.request(INITIALIZE_REQUEST.method, INITIALIZE_REQUEST.params);
    client.child.stdin.write(
      `${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`,
    );
    return client;
  }

  request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
  }

  close(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.on("exit", () => resolve()));
    this.child.stdin.end();
    return exited;
  }
}
