import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Ollama } from "ollama";
import { FAKE_API_KEY } from "../test/fake-ollama-cloud.js";
import { openRawSession } from "../test/spawn-bin.js";
import { median, ms, type Row, timeIt } from "./measure.js";

const BIN = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));
const FAKE = fileURLToPath(new URL("./fake-upstream-process.ts", import.meta.url));
const SEQUENTIAL = 500;
const CONCURRENT = 200;
/** Calls in a row of one way before the other way's turn. */
const BLOCK = 50;

/**
 * The same web_search calls through the spawned server (stdio, raw JSON-RPC client, cache off)
 * and directly with ollama-js, against one fake upstream in a process of its own (ollama.com is
 * never inside the client's process): the difference is what the server adds. The two ways take
 * turns in blocks of calls, so slow drifts of the machine are shared.
 */
export async function benchPerCall(): Promise<Row[]> {
  const fake = await startFakeProcess();
  const env = {
    PATH: process.env.PATH ?? "",
    OLLAMA_API_KEY: FAKE_API_KEY,
    OLLAMA_CLOUD_HOST: fake.url,
    OLLAMA_SEARCH_CACHE_TTL_MS: "0",
    OLLAMA_MCP_LOG_LEVEL: "off",
  };
  const raw = await openRawSession(process.execPath, [BIN], env);
  // ollama-js posts web search to https://ollama.com; point it at the same fake.
  const direct = new Ollama({
    host: fake.url,
    headers: { authorization: `Bearer ${FAKE_API_KEY}` },
    fetch: (url, init) => fetch(String(url).replace("https://ollama.com", fake.url), init),
  });
  const args = (i: number) => ({ query: `q${i}`, max_results: 5 });
  const viaServer = async (i: number) => {
    const reply = (await raw.request("tools/call", { name: "web_search", arguments: args(i) })) as {
      result?: { isError?: boolean; structuredContent?: { results?: unknown[] } };
    };
    // Timing failed calls would flatter the server.
    if (reply.result?.isError || reply.result?.structuredContent?.results?.length !== 5) {
      throw new Error("web_search through the server did not return five results");
    }
  };
  const viaOllamaJs = (i: number) => direct.webSearch(args(i) as unknown as { query: string });

  try {
    const ways = { server: viaServer, plain: viaOllamaJs };
    for (let i = 0; i < 50; i++) for (const call of Object.values(ways)) await call(i);
    const times = { server: [] as number[], plain: [] as number[] };
    for (let i = 0; i < SEQUENTIAL; i += BLOCK) {
      const order =
        (i / BLOCK) % 2 ? (["plain", "server"] as const) : (["server", "plain"] as const);
      for (const way of order) {
        for (let j = i; j < i + BLOCK; j++) times[way].push(await timeIt(() => ways[way](j)));
      }
    }
    const server = median(times.server);
    const plain = median(times.plain);
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
        benchmark: `per-call overhead: ${SEQUENTIAL} sequential web_search over stdio vs ollama-js direct (median)`,
        result: `${ms(server)} vs ${ms(plain)} = ${(server - plain).toFixed(3)} ms added`,
        goal: "<= 1 ms added",
        met: server - plain <= 1,
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
    fake.stop();
  }
}

/** Starts the fake upstream in its own process; resolves with its URL and a way to stop it. */
async function startFakeProcess(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, ["--import", "tsx", FAKE], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once("exit", (code) => reject(new Error(`the fake upstream exited with ${code}`)));
  });
  return { url, stop: () => child.stdin.end() };
}
