import { spawn } from "node:child_process";
import { INITIALIZE_REQUEST as INIT } from "../test/spawn-bin.js";
import { median } from "./measure.js";

/** The per-request envelope of a 2026-07-28 client. */
const ENVELOPE = {
  _meta: {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" },
  },
};

export type Era = "2025" | "2026-07-28";

/**
 * Milliseconds from spawn until the server's answer to tools/list arrives on stdout: after
 * initialize (2025), or after server/discover, both with the envelope (2026-07-28).
 */
export function timeToToolsList(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  era: Era = "2025",
): Promise<number> {
  const modern = era === "2026-07-28";
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "ignore"] });
    let buffered = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not answer tools/list within 30 s`));
    }, 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n")) {
        if (!line.trim()) continue;
        let message: { id?: number } | undefined;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (message?.id === 1) {
          if (!modern) {
            child.stdin.write(
              `${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`,
            );
          }
          const params = modern ? ENVELOPE : {};
          child.stdin.write(
            `${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params })}\n`,
          );
        }
        if (message?.id === 2) {
          const elapsed = performance.now() - started;
          clearTimeout(timer);
          child.kill("SIGKILL");
          resolve(elapsed);
        }
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    });
    child.on("error", reject);
    const opening = modern
      ? { jsonrpc: "2.0", id: 1, method: "server/discover", params: ENVELOPE }
      : INIT;
    child.stdin.write(`${JSON.stringify(opening)}\n`);
  });
}

/**
 * Start-up times of several servers, in rounds: each round starts each server once, one after
 * the other, so servers compared within a round share the machine's state at that moment.
 */
export async function interleavedStartup<Name extends string>(
  runs: number,
  servers: Record<Name, { command: string; args: string[]; env?: NodeJS.ProcessEnv; era?: Era }>,
): Promise<Record<Name, number[]>> {
  const entries = Object.entries(servers) as [Name, (typeof servers)[Name]][];
  const times = Object.fromEntries(entries.map(([name]) => [name, [] as number[]])) as Record<
    Name,
    number[]
  >;
  for (const [, s] of entries) await timeToToolsList(s.command, s.args, s.env, s.era); // warm the file cache
  for (let i = 0; i < runs; i++) {
    for (const [name, s] of entries)
      times[name].push(await timeToToolsList(s.command, s.args, s.env, s.era));
  }
  return times;
}

/** The median of the round-by-round ratios a[i] / b[i]: a slow spell of the machine cancels out. */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((value, i) => value / (b[i] ?? Number.NaN)));
}
