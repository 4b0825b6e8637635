import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

/**
 * Real clients the end-to-end tests drive, at pinned versions, fetched from the npm registry the
 * first time a test needs them and kept for the next runs: a clone installs what building and
 * testing the server needs, and no client application. The Inspector CLI and the conformance
 * suite need Node 22, which comes as the npm package `node`, whatever Node runs the tests. The
 * SDK's v1 client stands for the 2025 clients in the wild.
 */
const PINNED: Record<string, string> = {
  node: "22.23.3",
  "@modelcontextprotocol/inspector": "2.12.0",
  "@modelcontextprotocol/conformance": "0.2.0-alpha.12",
  "@anthropic-ai/claude-code": "2.1.332",
  "@modelcontextprotocol/sdk": "1.32.2",
};

const DIR = fileURLToPath(new URL("../node_modules/.cache/ocm-test-tools/", import.meta.url));
const LOCK = join(DIR, "installing");
const MARKER = join(DIR, "installed.json");
const run = promisify(execFile);

export interface TestTools {
  /** Node 22's executable. */
  node22: string;
  /** The path of a bin the pinned packages install (mcp-inspector, conformance, claude). */
  bin(name: string): string;
  /** A module of a pinned package, imported from where it was installed. */
  load<T>(specifier: string): Promise<T>;
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
    load: async <T>(specifier: string) =>
      (await import(
        pathToFileURL(createRequire(join(DIR, "index.js")).resolve(specifier)).href
      )) as T,
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

/** The parts of the SDK's v1 client (@modelcontextprotocol/sdk 1.x) the tests use. */
export interface V1Client {
  connect(transport: unknown): Promise<void>;
  listTools(): Promise<{ tools: unknown[] }>;
  callTool(
    params: { name: string; arguments: Record<string, unknown> },
    resultSchema?: unknown,
    options?: { signal?: AbortSignal },
  ): Promise<{ isError?: boolean; structuredContent?: unknown }>;
  getServerVersion(): { name: string } | undefined;
  close(): Promise<void>;
}

export interface V1Sdk {
  Client: new (info: { name: string; version: string }) => V1Client;
  StdioClientTransport: new (params: {
    command: string;
    args: string[];
    env?: Record<string, string>;
    stderr?: "ignore" | "pipe" | "inherit";
  }) => unknown;
  StreamableHTTPClientTransport: new (
    url: URL,
  ) => { sessionId?: string | undefined; protocolVersion?: string | undefined };
}

/** The SDK's v1 client, as 2025 clients in the wild run it. */
export async function v1Sdk(): Promise<V1Sdk> {
  const tools = await testTools();
  const [client, stdio, http] = await Promise.all([
    tools.load<Pick<V1Sdk, "Client">>("@modelcontextprotocol/sdk/client/index.js"),
    tools.load<Pick<V1Sdk, "StdioClientTransport">>("@modelcontextprotocol/sdk/client/stdio.js"),
    tools.load<Pick<V1Sdk, "StreamableHTTPClientTransport">>(
      "@modelcontextprotocol/sdk/client/streamableHttp.js",
    ),
  ]);
  return {
    Client: client.Client,
    StdioClientTransport: stdio.StdioClientTransport,
    StreamableHTTPClientTransport: http.StreamableHTTPClientTransport,
  };
}
