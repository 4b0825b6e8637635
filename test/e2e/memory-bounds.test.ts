import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { useFake } from "../harness.js";
import {
  assertBuilt,
  BIN,
  binEnv,
  INITIALIZE_REQUEST,
  type RawSession,
  rawSession,
} from "../spawn-bin.js";

beforeAll(assertBuilt);
const t = useFake();

/** The resident memory of a process, from the kernel's own account of it. */
function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
}

const MB = 1024 * 1024;

async function stdioBin(
  env: Record<string, string>,
): Promise<{ session: RawSession; pid: number }> {
  const child = spawn(process.execPath, [BIN], {
    env: binEnv(t.fake, env),
    stdio: ["pipe", "pipe", "ignore"],
  });
  const session = rawSession(child);
  await session.request(INITIALIZE_REQUEST.method, INITIALIZE_REQUEST.params);
  session.notify("notifications/initialized");
  return { session, pid: child.pid as number };
}

/** `count` one-shot cloud_chat calls of `chars` characters each, a few at a time. */
async function oneShots(session: RawSession, count: number, chars: number): Promise<void> {
  for (let done = 0; done < count; done += 10) {
    const batch = Array.from({ length: Math.min(10, count - done) }, (_, i) =>
      session.request("tools/call", {
        name: "cloud_chat",
        arguments: { prompt: `${done + i} ${"z".repeat(chars)}` },
      }),
    );
    const results = (await Promise.all(batch)) as { result?: { isError?: boolean } }[];
    expect(results.every((r) => r.result && !r.result.isError)).toBe(true);
    // The fake keeps what it was sent; this test measures the server, not the fake.
    t.fake.requests.length = 0;
  }
}

/**
 * What a stdio server keeps of one-shot calls, measured: the RSS of the built bin before and
 * after. Without bounds every call's prompt and answer stayed for an hour: 150 one-shot 2 MB
 * calls grew it by about 550 MB, 400 of 300 KB by 200 MB. The bounds leave only the garbage the
 * calls make, which the collector takes back: tens of MB.
 */
describe.skipIf(!existsSync("/proc/self/status"))("memory held for one-shot calls", () => {
  it("keeps none of 150 one-shot 2 MB calls, which are too large to be a conversation", async () => {
    t.fake.chatResponder = () => ({ content: "ok" });
    const { session, pid } = await stdioBin({});
    try {
      await oneShots(session, 10, 2 * MB);
      const before = rss(pid);
      await oneShots(session, 150, 2 * MB);
      const grown = rss(pid) - before;
      expect(grown, `grew by ${Math.round(grown / MB)} MB`).toBeLessThan(120 * MB);
    } finally {
      await session.close();
    }
  });

  it("keeps at most a caller's OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER conversations", async () => {
    t.fake.chatResponder = () => ({ content: "ok" });
    const { session, pid } = await stdioBin({
      OLLAMA_MCP_CONVERSATION_MAX_CHARS: "1000000",
      OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER: "10",
    });
    try {
      await oneShots(session, 20, 400_000);
      const before = rss(pid);
      // Unbounded, these 600 conversations of 400 KB are 240 MB of text, kept twice over.
      await oneShots(session, 600, 400_000);
      const grown = rss(pid) - before;
      expect(grown, `grew by ${Math.round(grown / MB)} MB`).toBeLessThan(150 * MB);
    } finally {
      await session.close();
    }
  });
});
