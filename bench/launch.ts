import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import {
  common,
  leaveOutUnusedSdkImports,
  quickRejectInSdkGuards,
} from "../scripts/bundle-options.mjs";
import { INITIALIZE_REQUEST } from "../test/spawn-bin.js";
import { ms, type Row } from "./measure.js";
import { bareResponder, PEER, peerBin } from "./peers.js";
import { interleavedStartup } from "./startup.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "dist", "index.cjs");

export async function benchStartup(): Promise<Row[]> {
  const env = { ...process.env, OLLAMA_API_KEY: "bench", EXA_API_KEY: "bench" };
  await primeCompileCache(env);
  const floor = await bundleSdkFloor();
  const medians = await interleavedStartup(21, {
    ours: { command: process.execPath, args: [BIN], env },
    oursCold: {
      command: process.execPath,
      args: [BIN],
      env: { ...env, NODE_DISABLE_COMPILE_CACHE: "1" },
    },
    floor: { command: process.execPath, args: [floor], env },
    peer: { command: process.execPath, args: [peerBin()], env },
    bare: { command: process.execPath, args: [bareResponder()], env },
  });
  const { ours, oursCold, floor: floorTime, peer, bare } = medians;
  const versus = (time: number) =>
    `${ms(time)} vs ${ms(peer)} = ${(time / peer).toFixed(2)}x (bare Node responder: ${ms(bare)})`;
  const name = `${PEER.name}@${PEER.version}`;
  return [
    {
      benchmark: `startup to tools/list over stdio (median of 21): ours vs ${name}`,
      result: versus(ours),
      goal: "<= 0.6x the peer",
      met: ours / peer <= 0.6,
    },
    {
      benchmark: "the same, first start (no compile cache yet, or NODE_DISABLE_COMPILE_CACHE=1)",
      result: `${versus(oursCold)}; a tool-less McpServer on the same SDK, bundled the same way: ${ms(floorTime)}`,
      goal: "<= 0.6x the peer",
      met: oursCold / peer <= 0.6,
    },
  ];
}

/** Bundles bench/sdk-floor-server.ts like dist/main.cjs; returns the bundle's path. */
async function bundleSdkFloor(): Promise<string> {
  const outfile = join(ROOT, "bench", ".peers", "sdk-floor.cjs");
  await build({
    ...common,
    entryPoints: [join(ROOT, "bench", "sdk-floor-server.ts")],
    outfile,
    plugins: [leaveOutUnusedSdkImports, quickRejectInSdkGuards],
  });
  return outfile;
}

/** Runs the bin once for long enough to write its compile cache, as any first session does. */
function primeCompileCache(env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN], { env, stdio: ["pipe", "ignore", "ignore"] });
    child.stdin.write(`${JSON.stringify(INITIALIZE_REQUEST)}\n`);
    setTimeout(() => child.stdin.end(), 1500);
    child.on("exit", () => resolve());
    child.on("error", reject);
  });
}

export function benchFootprint(): Row[] {
  const work = mkdtempSync(join(tmpdir(), "ocm-footprint-"));
  try {
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    )[0] as { filename: string; size: number; unpackedSize: number; entryCount: number };
    const target = join(work, "install");
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefix", target, join(work, packed.filename)],
      {
        stdio: "ignore",
      },
    );
    const modules = join(target, "node_modules");
    const packages = readdirSync(modules)
      .filter((name) => !name.startsWith("."))
      .flatMap((name) =>
        name.startsWith("@") ? readdirSync(join(modules, name)).map((n) => `${name}/${n}`) : [name],
      );
    const bytes = diskUsage(modules);
    return [
      {
        benchmark: "install footprint (npm pack, then npm install of the tarball)",
        result: `${packages.length} package(s), ${(packed.size / 1024).toFixed(0)} KiB download, ${(bytes / 1024).toFixed(0)} KiB on disk`,
        goal: "a handful of packages at most",
        met: packages.length <= 5,
      },
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function diskUsage(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + diskUsage(join(path, name)), 0);
}
