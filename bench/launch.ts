import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ms, type Row } from "./measure.js";
import { bareResponder, PEER, peerBin } from "./peers.js";
import { interleavedStartup } from "./startup.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "dist", "index.cjs");

export async function benchStartup(): Promise<Row[]> {
  const env = { ...process.env, OLLAMA_API_KEY: "bench", EXA_API_KEY: "bench" };
  const medians = await interleavedStartup(21, {
    ours: { command: process.execPath, args: [BIN], env },
    peer: { command: process.execPath, args: [peerBin()], env },
    bare: { command: process.execPath, args: [bareResponder()], env },
  });
  const ours = medians.ours as number;
  const peer = medians.peer as number;
  const bare = medians.bare as number;
  return [
    {
      benchmark: `startup to tools/list over stdio (median of 21): ours vs ${PEER.name}@${PEER.version}`,
      result: `${ms(ours)} vs ${ms(peer)} = ${(ours / peer).toFixed(2)}x (bare Node responder: ${ms(bare)})`,
      goal: "<= 0.6x the peer",
      met: ours / peer <= 0.6,
    },
  ];
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
