import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleServer } from "../scripts/bundle.mjs";
import { INITIALIZE_REQUEST } from "../test/spawn-bin.js";
import { median, ms, type Row } from "./measure.js";
import { PEER, peerBin } from "./peers.js";
import { interleavedStartup, pairedRatio } from "./startup.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "dist", "index.cjs");

const RUNS = 21;

/** Ours at most this many times a bare v2 server with ten tools, bundled the same way. */
const BARE_GOAL = 1.3;

/**
 * Start-up to the tools/list answer over stdio, ours beside a bare v2 server with ten tools
 * and the peer, on this Node and on Node 22 (from the npm package node@22) when it is not this
 * one: in the 2025 era (initialize) for all three, and in the 2026-07-28 era (server/discover)
 * for ours and the bare server (the peer speaks 2025 only).
 */
export async function benchStartup(): Promise<Row[]> {
  const nodes = [process.execPath];
  if (!process.version.startsWith("v22.")) {
    const node22 = nodeFromNpm("22");
    if (node22) nodes.push(node22);
  }
  const bareBin = await bundleLikeDist("bare-server.ts");
  const rows: Row[] = [];
  for (const node of nodes) rows.push(...(await startupOn(node, bareBin)));
  return rows;
}

async function startupOn(node: string, bareBin: string): Promise<Row[]> {
  const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
  const env = { ...process.env, OLLAMA_API_KEY: "bench", EXA_API_KEY: "bench" };
  await primeCompileCache(node, BIN, env);
  await primeCompileCache(node, bareBin, env);
  const bare = { command: node, args: [bareBin, "--ten"], env };
  const legacy = await interleavedStartup(RUNS, {
    ours: { command: node, args: [BIN], env },
    bare,
    peer: { command: node, args: [peerBin()], env },
  });
  const modern = await interleavedStartup(RUNS, {
    ours: { command: node, args: [BIN], env, era: "2026-07-28" },
    bare: { ...bare, era: "2026-07-28" },
  });
  const toBare = pairedRatio(legacy.ours, legacy.bare);
  const toPeer = pairedRatio(legacy.ours, legacy.peer);
  const modernToBare = pairedRatio(modern.ours, modern.bare);
  return [
    {
      benchmark: `start-up to tools/list over stdio after initialize (2025), Node ${version} (${RUNS} rounds): ours vs a bare v2 server with ten tools, and vs ${PEER.name}@${PEER.version}`,
      result: `${ms(median(legacy.ours))} vs ${ms(median(legacy.bare))}: ${toBare.toFixed(2)}x the bare server; vs ${ms(median(legacy.peer))}: ${toPeer.toFixed(2)}x the peer`,
      goal: `<= ${BARE_GOAL}x the bare server, < 1x the peer`,
      met: toBare <= BARE_GOAL && toPeer < 1,
    },
    {
      benchmark: `the same after server/discover (2026-07-28), Node ${version}: ours vs the bare v2 server`,
      result: `${ms(median(modern.ours))} vs ${ms(median(modern.bare))}: ${modernToBare.toFixed(2)}x`,
      goal: `<= ${BARE_GOAL}x the bare server`,
      met: modernToBare <= BARE_GOAL,
    },
  ];
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
 * Bundles a server in bench/ the way scripts/build.mjs bundles ours (scripts/bundle.mjs), with
 * the same bin, so that it starts and runs as dist/ does. Returns the bin's path.
 */
export async function bundleLikeDist(entry: string): Promise<string> {
  const dir = join(ROOT, "bench", ".peers", entry.replace(/\.ts$/, ""));
  await bundleServer(join(ROOT, "bench", entry), dir);
  return join(dir, "index.cjs");
}
