import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PEERS_DIR = fileURLToPath(new URL("./.peers/", import.meta.url));

/** The comparable npm MCP server, installed once from the npm registry into bench/.peers. */
export const PEER = { name: "exa-mcp-server", version: "3.4.1" };

export function peerBin(): string {
  const dir = join(PEERS_DIR, "node_modules", PEER.name);
  if (!existsSync(join(dir, "package.json"))) {
    mkdirSync(PEERS_DIR, { recursive: true });
    writeFileSync(join(PEERS_DIR, "package.json"), '{ "private": true }\n');
    execFileSync("npm", ["install", "--no-audit", "--no-fund", `${PEER.name}@${PEER.version}`], {
      cwd: PEERS_DIR,
      stdio: "ignore",
    });
  }
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const bin =
    typeof pkg.bin === "string" ? pkg.bin : Object.values(pkg.bin as Record<string, string>)[0];
  return join(dir, bin as string);
}
