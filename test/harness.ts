import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/client";
import type { AuthInfo, CallToolResult } from "@modelcontextprotocol/server";
import { InMemoryTransport } from "@modelcontextprotocol/server";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { type Clock, systemClock } from "../src/clock.js";
import { compose } from "../src/compose.js";
import { resolveConfig } from "../src/config.js";
import type { Conversations } from "../src/conversations.js";
import { Jobs, jobsConfig } from "../src/jobs/jobs.js";
import { MemoryStore } from "../src/store/memory-store.js";
import type { Store } from "../src/store/store.js";
import type { Upstream } from "../src/upstream/upstream.js";
import { FAKE_API_KEY, FakeOllamaCloud } from "./fake-ollama-cloud.js";

export { TOOL_NAMES } from "../src/tools/all.js";

/**
 * One reviewed snapshot per tool, so a change to a tool reviews as a change to its own file
 * (update with `npx vitest run -u` and review the diff).
 */
export async function expectToolSnapshots(tools: { name: string }[]): Promise<void> {
  for (const tool of tools) {
    const file = fileURLToPath(new URL(`./__snapshots__/tools/${tool.name}.json`, import.meta.url));
    await expect(`${JSON.stringify(tool, null, 2)}\n`).toMatchFileSnapshot(file);
  }
}

export interface Connected {
  client: Client;
  upstream: Upstream;
  jobs: Jobs;
  conversations: Conversations;
  logLines: string[];
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/**
 * A real SDK client talking to the composed server over an in-memory transport, upstream = the fake.
 * Retries and the search cache are off unless a test turns them on through `env`, so each test
 * sees exactly the upstream behaviour it injects. Backoff is 1 ms so retry tests stay quick.
 */
export async function connect(
  fake: Pick<FakeOllamaCloud, "url">,
  env: Record<string, string | undefined> = {},
  options: {
    clock?: Clock;
    secrets?: string[];
    /** Who the client is, as an HTTP transport would have said (its authInfo). */
    authInfo?: AuthInfo;
    /** Jobs (and conversations) shared with another connection: two clients of one server. */
    jobs?: Jobs;
    conversations?: Conversations;
    /** The store conversations are kept in (a fresh memory store unless given). */
    conversationStore?: Store;
    transport?: "stdio" | "http";
    /** An upstream client shared with another connection (its caps and caches). */
    upstream?: Upstream;
  } = {},
): Promise<Connected> {
  const config = resolveConfig(
    {},
    {
      OLLAMA_API_KEY: FAKE_API_KEY,
      OLLAMA_CLOUD_HOST: fake.url,
      OLLAMA_CLOUD_RETRIES: "0",
      OLLAMA_SEARCH_CACHE_TTL_MS: "0",
      OLLAMA_MCP_LOG_LEVEL: "debug",
      ...env,
    },
  );
  const logLines: string[] = [];
  const { clock, secrets } = options;
  const services = await compose({
    config,
    transport: options.transport ?? "stdio",
    log: { log: (level, message) => logLines.push(`${level}: ${message}`) },
    writeLog: (line) => logLines.push(line),
    store: options.conversationStore ?? new MemoryStore(clock ?? systemClock),
    // Jobs keep their own store unless shared, as two servers of one process would.
    jobs:
      options.jobs ??
      new Jobs(new MemoryStore(clock ?? systemClock), clock ?? systemClock, jobsConfig(config), {
        log: (level, message) => logLines.push(`${level}: ${message}`),
      }),
    retryPolicy: { backoffMs: 1 },
    progressThrottleMs: 0,
    ...(clock && { clock }),
    ...(secrets && { secrets }),
    ...(options.conversations && { conversations: options.conversations }),
    ...(options.upstream && { upstream: options.upstream }),
  });
  const { jobs, conversations, upstream } = services;
  // The SDK's v2 client, as 2026-07-28 clients are served: skills included.
  const server = await services.newServer("modern");
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  const { authInfo } = options;
  if (authInfo) {
    const send = clientSide.send.bind(clientSide);
    clientSide.send = (message, sendOptions) => send(message, { ...sendOptions, authInfo });
  }
  await server.connect(serverSide);
  const client = new Client({ name: "test-client", version: "1.0.0" });
  await client.connect(clientSide);
  return {
    client,
    upstream,
    jobs,
    conversations,
    logLines,
    call: async (name, args) =>
      (await client.callTool({ name, arguments: args })) as CallToolResult,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** Waits until `condition` holds, looking again every few milliseconds; fails after `limitMs`. */
export async function until(
  condition: () => Promise<boolean> | boolean,
  limitMs = 15_000,
  waitingFor = "the condition",
): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > limitMs) {
      throw new Error(`gave up after ${limitMs} ms waiting for ${waitingFor}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Waits until the server has logged a line that matches: the call it reports has ended. */
export async function logged(mcp: Connected, pattern: RegExp): Promise<string> {
  const match = () => mcp.logLines.find((l) => pattern.test(l));
  await until(() => match() !== undefined, 10_000, `a log line matching ${pattern}`);
  return match() as string;
}

export function textOf(result: CallToolResult): string {
  return result.content.map((part) => (part.type === "text" ? part.text : "")).join("\n");
}

/**
 * For a test file: one fake cloud and one connected client, started before its tests, the fake
 * reset after each test and both closed at the end.
 */
export function useFakeCloud(): { fake: FakeOllamaCloud; mcp: Connected } {
  const t = {} as { fake: FakeOllamaCloud; mcp: Connected };
  beforeAll(async () => {
    t.fake = await FakeOllamaCloud.start();
    t.mcp = await connect(t.fake);
  });
  afterEach(() => t.fake.reset());
  afterAll(async () => {
    await t.mcp?.close();
    await t.fake?.close();
  });
  return t;
}

/** For a test file: one fake cloud, started before its tests, reset after each, closed at the end. */
export function useFake(): { readonly fake: FakeOllamaCloud } {
  let fake: FakeOllamaCloud | undefined;
  beforeAll(async () => {
    fake = await FakeOllamaCloud.start();
  });
  afterEach(() => fake?.reset());
  afterAll(async () => {
    await fake?.close();
  });
  return {
    get fake() {
      if (!fake) throw new Error("the fake starts in beforeAll");
      return fake;
    },
  };
}

/**
 * For a test file: one fake cloud for all its tests, and servers made per test with their own
 * settings, all closed after each test.
 */
export function useServers(): {
  readonly fake: FakeOllamaCloud;
  server(
    env?: Record<string, string | undefined>,
    options?: Parameters<typeof connect>[2],
  ): Promise<Connected>;
} {
  const cloud = useFake();
  const open: Connected[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  return {
    get fake() {
      return cloud.fake;
    },
    async server(env = {}, options = {}) {
      const mcp = await connect(cloud.fake, env, options);
      open.push(mcp);
      return mcp;
    },
  };
}
