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
  url: string;
  origin: string;
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
      const match = /Listening on (http:\/\/\S+)/.exec(err);
      if (match?.[1]) resolve(match[1]);
    });
    void exited.then((code) =>
      reject(new Error(`bin exited with ${code} before listening:\n${err}`)),
    );
  });
  return {
    url,
    origin: new URL(url).origin,
    child,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
