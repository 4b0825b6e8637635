import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FAKE_API_KEY, type FakeOllamaCloud } from "./fake-ollama-cloud.js";

export const BIN = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));

/** The initialize request a raw client (a test or benchmark without the SDK) opens with. */
export const INITIALIZE_REQUEST = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "raw", version: "1" },
  },
} as const;

export function assertBuilt(): void {
  if (!existsSync(BIN)) throw new Error("dist/index.cjs is missing: run `npm run build` first");
}

/** The environment a user would give the bin, without this machine's own Ollama settings. */
export function binEnv(
  fake: FakeOllamaCloud,
  extra: Record<string, string | undefined> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({
    PATH: process.env.PATH,
    OLLAMA_API_KEY: FAKE_API_KEY,
    OLLAMA_CLOUD_HOST: fake.url,
    OLLAMA_CLOUD_RETRIES: "0",
    ...extra,
  })) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export interface HttpBin {
  /** The address clients use: the public URL's /mcp with sign-in, else the one listened on. */
  url: string;
  origin: string;
  /** host:port the bin listens on (a reverse proxy's upstream). */
  bound: string;
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Spawns `dist/index.cjs --http --port 0 ...` and waits for its "Listening on" line. */
export async function spawnHttpBin(
  env: Record<string, string>,
  args: string[] = [],
): Promise<HttpBin> {
  const child = spawn(process.execPath, [BIN, "--http", "--port", "0", ...args], { env });
  let err = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      const match = /Listening on (https?:\/\/\S+)/.exec(err);
      if (match?.[1]) resolve(match[1]);
    });
    void exited.then((code) =>
      reject(new Error(`bin exited with ${code} before listening:\n${err}`)),
    );
  });
  return {
    url,
    origin: new URL(url).origin,
    bound: /\(bound to ([^)\s]+)\)/.exec(err)?.[1] ?? new URL(url).host,
    child,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

export interface RawSession {
  /** Sends a request; resolves with the whole response message, or fails if the child exits. */
  request(method: string, params?: unknown): Promise<unknown>;
  notify(method: string): void;
  /** Everything the child wrote, when the session records it. */
  stdout(): string;
  stderr(): string;
  /** Ends the child's stdin; resolves with its exit code. */
  close(): Promise<number | null>;
}

/**
 * Minimal newline-delimited JSON-RPC over a child's stdio, for tests and benchmarks that need to
 * see the wire without a client library in between. With `record`, every byte the child writes
 * is kept, lines that are not JSON included.
 */
export function rawSession(child: ChildProcess, { record = false } = {}): RawSession {
  const { stdin, stdout } = child;
  if (!stdin || !stdout) throw new Error("a raw session needs the child's stdin and stdout piped");
  let out = "";
  let err = "";
  let buffered = "";
  let nextId = 1;
  const waiting = new Map<
    number,
    { resolve(message: unknown): void; reject(error: Error): void }
  >();
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  void exited.then((code) => {
    for (const { reject } of waiting.values()) reject(new Error(`the child exited with ${code}`));
    waiting.clear();
  });
  stdout.on("data", (chunk: Buffer) => {
    const text = chunk.toString();
    if (record) out += text;
    buffered += text;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      let message: { id?: number };
      try {
        message = JSON.parse(line);
      } catch {
        continue; // kept in stdout() when recording; such tests assert every line is JSON
      }
      if (message.id === undefined) continue;
      waiting.get(message.id)?.resolve(message);
      waiting.delete(message.id);
    }
  });
  if (record) {
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
  }
  return {
    request(method, params) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
      });
    },
    notify(method) {
      stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method })}\n`);
    },
    stdout: () => out,
    stderr: () => err,
    close() {
      stdin.end();
      return exited;
    },
  };
}

/** Spawns a server (stderr ignored) and opens a raw session to it: initialize, then initialized. */
export async function openRawSession(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<RawSession> {
  const session = rawSession(spawn(command, args, { env, stdio: ["pipe", "pipe", "ignore"] }));
  await session.request(INITIALIZE_REQUEST.method, INITIALIZE_REQUEST.params);
  session.notify("notifications/initialized");
  return session;
}
