import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Ollama } from "ollama";
import { FAKE_API_KEY } from "../test/fake-ollama-cloud.js";
import { openRawSession } from "../test/spawn-bin.js";
import { bundleLikeDist } from "./launch.js";
import { median, ms, type Row, timeIt } from "./measure.js";

const BIN = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));
const FAKE = fileURLToPath(new URL("./fake-upstream-process.ts", import.meta.url));
const SEQUENTIAL = 500;
const CONCURRENT = 200;
/** Calls in a row of one way before the other way's turn. */
const BLOCK = 50;

/**
 * The same web_search calls three ways, against one fake upstream in a process of its own
 * (ollama.com is never inside the client's process): through our spawned server (stdio, raw
 * JSON-RPC client, cache off), through a bare SDK server with one web_search tool
 * (bench/bare-server.ts, bundled as dist/ is), and directly with ollama-js. What each server adds
 * is its time less the direct one; ours is held to 1.3x the bare server's. The ways take turns in
 * blocks of calls, so slow drifts of the machine are shared.
 */
export async function benchPerCall(): Promise<Row[]> {
  const fake = await startFakeProcess();
  const env = benchEnv(fake.url);
  const raw = await openRawSession(process.execPath, [BIN], env);
  const bare = await openRawSession(
    process.execPath,
    [await bundleLikeDist("bare-server.ts")],
    env,
  );
  // ollama-js posts web search to https://ollama.com; point it at the same fake.
  const direct = new Ollama({
    host: fake.url,
    headers: { authorization: `Bearer ${FAKE_API_KEY}` },
    fetch: (url, init) => fetch(String(url).replace("https://ollama.com", fake.url), init),
  });
  const args = (i: number) => ({ query: `q${i}`, max_results: 5 });
  const through = (session: typeof raw) => async (i: number) => {
    const reply = (await session.request("tools/call", {
      name: "web_search",
      arguments: args(i),
    })) as { result?: { isError?: boolean; structuredContent?: { results?: unknown[] } } };
    // Timing failed calls would flatter the server.
    if (reply.result?.isError || reply.result?.structuredContent?.results?.length !== 5) {
      throw new Error("web_search through a server did not return five results");
    }
  };
  const viaServer = through(raw);
  const viaBare = through(bare);
  const viaOllamaJs = (i: number) => direct.webSearch(args(i) as unknown as { query: string });

  try {
    const ways = { server: viaServer, bare: viaBare, plain: viaOllamaJs };
    const names = Object.keys(ways) as (keyof typeof ways)[];
    for (let i = 0; i < 50; i++) for (const call of Object.values(ways)) await call(i);
    const times = { server: [] as number[], bare: [] as number[], plain: [] as number[] };
    for (let i = 0; i < SEQUENTIAL; i += BLOCK) {
      // Each block, the ways take their turns in another order.
      const shift = (i / BLOCK) % names.length;
      for (const way of [...names.slice(shift), ...names.slice(0, shift)]) {
        for (let j = i; j < i + BLOCK; j++) times[way].push(await timeIt(() => ways[way](j)));
      }
    }
    const server = median(times.server);
    const plain = median(times.plain);
    const bareTime = median(times.bare);
    const added = server - plain;
    const bareAdded = bareTime - plain;
    const burst = (call: (i: number) => Promise<unknown>) =>
      timeIt(() => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => call(i))));
    const serverBurst = median([
      await burst(viaServer),
      await burst(viaServer),
      await burst(viaServer),
    ]);
    const plainBurst = median([
      await burst(viaOllamaJs),
      await burst(viaOllamaJs),
      await burst(viaOllamaJs),
    ]);
    const rate = (elapsed: number) => Math.round((CONCURRENT / elapsed) * 1000);
    return [
      {
        benchmark: `per-call cost added to ollama-js direct: ${SEQUENTIAL} sequential web_search over stdio (medians), ours vs a bare SDK server`,
        result: `ours ${ms(server)}, bare ${ms(bareTime)}, direct ${ms(plain)}: ${added.toFixed(3)} ms vs ${bareAdded.toFixed(3)} ms added = ${(added / bareAdded).toFixed(2)}x`,
        goal: "<= 1.3x the bare server's",
        met: added <= 1.3 * bareAdded,
      },
      {
        benchmark: `${CONCURRENT} concurrent web_search through the server vs ollama-js direct`,
        result: `${ms(serverBurst)} (${rate(serverBurst)} calls/s) vs ${ms(plainBurst)} (${rate(plainBurst)} calls/s)`,
        goal: "-",
        met: undefined,
      },
    ];
  } finally {
    await raw.close();
    await bare.close();
    fake.stop();
  }
}

/**
 * The environment every benched server gets: the fake upstream, and the same work as a bare
 * server (every call goes upstream, nothing is logged).
 */
export function benchEnv(fakeUrl: string, extra: Record<string, string> = {}) {
  return {
    PATH: process.env.PATH ?? "",
    OLLAMA_API_KEY: FAKE_API_KEY,
    OLLAMA_CLOUD_HOST: fakeUrl,
    OLLAMA_SEARCH_CACHE_TTL_MS: "0",
    OLLAMA_MCP_LOG_LEVEL: "off",
    ...extra,
  };
}

/** Starts the fake upstream in its own process; resolves with its URL and a way to stop it. */
export async function startFakeProcess(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, ["--import", "tsx", FAKE], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once("exit", (code) => reject(new Error(`the fake upstream exited with ${code}`)));
  });
  return { url, stop: () => child.stdin.end() };
}
