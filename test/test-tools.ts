import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * Real clients the end-to-end tests drive, at pinned versions, fetched from the npm registry the
 * first time a test needs them and kept for the next runs. The Inspector CLI and the conformance
 * suite need Node 22, which comes as the npm package `node`, whatever Node runs the tests.
 */
const PINNED: Record<string, string> = {
  node: "22.23.3",
  "@modelcontextprotocol/inspector": "2.12.0",
  "@modelcontextprotocol/conformance": "0.2.0-alpha.12",
};

const DIR = fileURLToPath(new URL("../node_modules/.cache/ocm-test-tools/", import.meta.url));
const LOCK = join(DIR, "installing");
const MARKER = join(DIR, "installed.json");
const run = promisify(execFile);

export interface TestTools {
  /** Node 22's executable. */
  node22: string;
  /** The path of a bin the pinned packages install (mcp-inspector, conformance). */
  bin(name: string): string;
}

let installed: Promise<TestTools> | undefined;

/** The pinned tools, installed once per checkout; test files in parallel wait for one install. */
export function testTools(): Promise<TestTools> {
  installed ??= install();
  return installed;
}

async function install(): Promise<TestTools> {
  const tools: TestTools = {
    node22: join(DIR, "node_modules/node/bin/node"),
    bin: (name) => join(DIR, "node_modules/.bin", name),
  };
  const wanted = JSON.stringify(PINNED);
  if ((await readMarker()) === wanted) return tools;
  await mkdir(DIR, { recursive: true });
  await takeLock();
  try {
    if ((await readMarker()) === wanted) return tools;
    await writeFile(
      join(DIR, "package.json"),
      `${JSON.stringify({ private: true, dependencies: PINNED }, null, 2)}\n`,
    );
    try {
      await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
        cwd: DIR,
        timeout: 300_000,
      });
    } catch (error) {
      throw new Error(
        `could not install the test tools (${Object.keys(PINNED).join(", ")}) from the npm registry into ${DIR}: ${(error as Error).message}`,
      );
    }
    await writeFile(MARKER, wanted);
    return tools;
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

async function readMarker(): Promise<string | undefined> {
  return existsSync(MARKER) ? readFile(MARKER, "utf8") : undefined;
}

/** mkdir is atomic: the one that makes the folder installs; the others wait for it to go. */
async function takeLock(): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      await mkdir(LOCK);
      return;
    } catch {
      if (Date.now() - started > 300_000) throw new Error(`${LOCK} was held for 5 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
