import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { INITIALIZE_REQUEST } from "../test/spawn-bin.js";
import { median, ms, type Row } from "./measure.js";
import { PEER, peerBin } from "./peers.js";
import { interleavedStartup, pairedRatio } from "./startup.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "dist", "index.cjs");

const RUNS = 21;

/** Start-up goals by Node major: the bin turns on Node's compile cache from Node 22 on. */
const GOALS: Record<string, number> = { "20": 0.85, "22": 0.7, "24": 0.7 };

/**
 * Start-up to the tools/list answer over stdio, ours beside the peer on the same Node: this
 * Node, and Node 22 from the npm package node@22 when it is not this one.
 */
export async function benchStartup(): Promise<Row[]> {
  const nodes = [process.execPath];
  if (!process.version.startsWith("v22.")) {
    const node22 = nodeFromNpm("22");
    if (node22) nodes.push(node22);
  }
  const floorBin = await bundleLikeDist("floor-server.ts");
  const rows: Row[] = [];
  for (const node of nodes) rows.push(await startupOn(node, floorBin));
  return rows;
}

async function startupOn(node: string, floorBin: string): Promise<Row> {
  const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
  const major = version.slice(1).split(".")[0] ?? "";
  const env = { ...process.env, OLLAMA_API_KEY: "bench", EXA_API_KEY: "bench" };
  await primeCompileCache(node, BIN, env);
  await primeCompileCache(node, floorBin, env);
  const times = await interleavedStartup(RUNS, {
    ours: { command: node, args: [BIN], env },
    peer: { command: node, args: [peerBin()], env },
    sdk: { command: node, args: [floorBin], env },
  });
  const goal = GOALS[major];
  const ratio = pairedRatio(times.ours, times.peer);
  const floor = pairedRatio(times.sdk, times.peer);
  return {
    benchmark: `startup to tools/list over stdio, Node ${version} (${RUNS} rounds): ours vs ${PEER.name}@${PEER.version}`,
    result: `${ms(median(times.ours))} vs ${ms(median(times.peer))}: ${ratio.toFixed(2)}x (a tool-less McpServer, same SDK and bin: ${ms(median(times.sdk))}, ${floor.toFixed(2)}x)`,
    goal: goal === undefined ? "-" : `<= ${goal}x the peer`,
    met: goal === undefined ? undefined : ratio <= goal,
  };
}

/** The path of a Node binary of this major from the npm registry (npx caches it), if it can be had. */
function nodeFromNpm(major: string): string | undefined {
  try {
    return execFileSync("npx", ["-y", "-p", `node@${major}`, "node", "-p", "process.execPath"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

/** Runs a bin once to a clean exit, as any first session does: Node writes its compile cache then. */
function primeCompileCache(node: string, bin: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [bin], { env, stdio: ["pipe", "ignore", "ignore"] });
    child.stdin.end(`${JSON.stringify(INITIALIZE_REQUEST)}\n`);
    child.on("exit", () => resolve());
    child.on("error", reject);
  });
}

/**
 * Bundles a server in bench/ the way scripts/build.mjs bundles ours, with the same bin, so that
 * it starts and runs as dist/ does. Returns the bin's path.
 */
export async function bundleLikeDist(entry: string): Promise<string> {
  const dir = join(ROOT, "bench", ".peers", entry.replace(/\.ts$/, ""));
  await build({
    entryPoints: [join(ROOT, "bench", entry)],
    outfile: join(dir, "main.cjs"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  const bin = join(dir, "index.cjs");
  writeFileSync(bin, readFileSync(BIN));
  return bin;
}
