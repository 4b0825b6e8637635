import { spawn } from "node:child_process";
import { INITIALIZE_REQUEST as INIT } from "../test/spawn-bin.js";
import { median } from "./measure.js";

/** Milliseconds from spawn until the server's answer to tools/list arrives on stdout. */
export function timeToToolsList(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
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
          child.stdin.write(
            `${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`,
          );
          child.stdin.write(
            `${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list", params: {} })}\n`,
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
    child.stdin.write(`${JSON.stringify(INIT)}\n`);
  });
}

/** Medians of start-up time for several servers, measured in interleaved rounds to share noise. */
export async function interleavedStartup<Name extends string>(
  runs: number,
  servers: Record<Name, { command: string; args: string[]; env?: NodeJS.ProcessEnv }>,
): Promise<Record<Name, number>> {
  const entries = Object.entries(servers) as [Name, (typeof servers)[Name]][];
  const times = new Map<Name, number[]>(entries.map(([name]) => [name, []]));
  for (const [, s] of entries) await timeToToolsList(s.command, s.args, s.env); // warm the file cache
  for (let i = 0; i < runs; i++) {
    for (const [name, s] of entries) {
      times.get(name)?.push(await timeToToolsList(s.command, s.args, s.env));
    }
  }
  return Object.fromEntries([...times].map(([name, t]) => [name, median(t)])) as Record<
    Name,
    number
  >;
}
