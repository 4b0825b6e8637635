import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Ollama } from "ollama";
import { FAKE_API_KEY } from "../test/fake-ollama-cloud.js";
import { connect } from "../test/harness.js";
import { openRawSession } from "../test/spawn-bin.js";
import { median, ms, type Row, timeIt } from "./measure.js";

const BIN = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));
const FAKE = fileURLToPath(new URL("./fake-upstream-process.ts", import.meta.url));
const SEQUENTIAL = 500;
const CONCURRENT = 200;
/** Separate measurements of the stdio ways; the table shows the median one and all of them. */
const ROUNDS = 3;
/** Calls in a row of one way before the next way's turn. */
const BLOCK = 50;

/**
 * Times each way of calling in blocks of BLOCK sequential calls, the ways taking turns (in an
 * order that rotates) until each has made SEQUENTIAL calls, after a warm-up. Each way runs
 * as it would in use, a run of calls of its own, while slow drifts of the machine are shared.
 * Alternating single calls instead measures each way inside the others' garbage collection
 * (fetch's in this process, the servers' in theirs): every figure rises by a third.
 */
async function interleaved<Name extends string>(
  ways: Record<Name, (i: number) => Promise<unknown>>,
): Promise<Record<Name, number[]>> {
  const entries = Object.entries(ways) as [Name, (i: number) => Promise<unknown>][];
  const times = Object.fromEntries(entries.map(([name]) => [name, [] as number[]])) as Record<
    Name,
    number[]
  >;
  for (let i = 0; i < 50; i++) for (const [, call] of entries) await call(i);
  for (let i = 0; i < SEQUENTIAL; i += BLOCK) {
    for (let k = 0; k < entries.length; k++) {
      const [name, call] = entries[(i / BLOCK + k) % entries.length] as [
        Name,
        (i: number) => Promise<unknown>,
      ];
      for (let j = i; j < i + BLOCK; j++) times[name].push(await timeIt(() => call(j)));
    }
  }
  return times;
}

interface ToolResult {
  isError?: boolean;
  structuredContent?: unknown;
}

function expectFiveResults(way: string, result: ToolResult | undefined): void {
  const results = (result?.structuredContent as { results?: unknown[] } | undefined)?.results;
  if (result?.isError || results?.length !== 5) {
    throw new Error(`web_search through the ${way} did not return five results`);
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

/**
 * The same web_search calls through the spawned server (stdio, cache off) and directly with
 * ollama-js, against one fake upstream without latency in a process of its own: the difference
 * is what the server adds. The ways take turns in blocks (see interleaved).
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
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN], env }));
  // ollama-js posts web search to https://ollama.com; point it at the same fake.
  const direct = new Ollama({
    host: fake.url,
    headers: { authorization: `Bearer ${FAKE_API_KEY}` },
    fetch: (url, init) => fetch(String(url).replace("https://ollama.com", fake.url), init),
  });
  const args = (i: number) => ({ query: `q${i}`, max_results: 5 });
  const viaRaw = (i: number) =>
    raw.request("tools/call", { name: "web_search", arguments: args(i) });
  const viaSdk = (i: number) => client.callTool({ name: "web_search", arguments: args(i) });
  const viaOllamaJs = (i: number) => direct.webSearch(args(i) as unknown as { query: string });

  let inProcess: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    // Timing failed calls would flatter the server: every way must return the five results.
    expectFiveResults("raw client", ((await viaRaw(0)) as { result?: ToolResult }).result);
    expectFiveResults("SDK Client", (await viaSdk(0)) as ToolResult);
    expectFiveResults("ollama-js", { structuredContent: await viaOllamaJs(0) });
    const stdioRounds: Record<"raw" | "sdk" | "plain", number[]>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      stdioRounds.push(await interleaved({ raw: viaRaw, sdk: viaSdk, plain: viaOllamaJs }));
    }
    // A phase of its own: an MCP server inside this process would add its garbage collection
    // to the timings of the stdio calls made from here.
    const mcp = await connect({ url: fake.url }, { OLLAMA_MCP_LOG_LEVEL: "off" });
    inProcess = mcp;
    const viaInMemory = (i: number) => mcp.call("web_search", args(i));
    expectFiveResults("in-memory client", (await viaInMemory(0)) as ToolResult);
    const inMemory = await interleaved({ memory: viaInMemory, plain: viaOllamaJs });
    /** The round with the median overhead, and the spread over all rounds. */
    const row = (
      benchmark: string,
      rounds: { samples: number[]; plain: number[] }[],
      goal: string,
      limit?: number,
    ): Row => {
      const measured = rounds
        .map((r) => ({ way: median(r.samples), plain: median(r.plain) }))
        .map((r) => ({ ...r, added: r.way - r.plain }))
        .sort((a, b) => a.added - b.added);
      const typical = measured[Math.floor(measured.length / 2)] as (typeof measured)[number];
      const spread =
        measured.length > 1
          ? ` (${measured.length} rounds: ${measured.map((r) => r.added.toFixed(3)).join(", ")})`
          : "";
      return {
        benchmark,
        result: `${ms(typical.way)} vs ${ms(typical.plain)} median = ${typical.added.toFixed(3)} ms added${spread}`,
        goal,
        met: limit === undefined ? undefined : typical.added <= limit,
      };
    };
    const burst = async (call: (i: number) => Promise<unknown>) =>
      timeIt(() => Promise.all(Array.from({ length: CONCURRENT }, (_, i) => call(i))));
    const bursts = async (call: (i: number) => Promise<unknown>) =>
      median([await burst(call), await burst(call), await burst(call)]);
    const serverBurst = await bursts(viaSdk);
    const plainBurst = await bursts(viaOllamaJs);
    const rate = (elapsed: number) => Math.round((CONCURRENT / elapsed) * 1000);
    return [
      row(
        `per-call overhead, ${SEQUENTIAL} sequential web_search over stdio vs ollama-js direct (raw JSON-RPC client; blocks of ${BLOCK}, median of ${ROUNDS} rounds)`,
        stdioRounds.map((r) => ({ samples: r.raw, plain: r.plain })),
        "<= 0.3 ms added",
        0.3,
      ),
      row(
        "the same with the SDK's Client, which also parses the result and checks it against the output schema",
        stdioRounds.map((r) => ({ samples: r.sdk, plain: r.plain })),
        "- (adds the client's own work)",
      ),
      row(
        "the same, in process (MCP client and server over an in-memory transport)",
        [{ samples: inMemory.memory, plain: inMemory.plain }],
        "<= 0.3 ms added",
        0.3,
      ),
      {
        benchmark: `${CONCURRENT} concurrent web_search through the server (SDK Client) vs ollama-js direct`,
        result: `${ms(serverBurst)} (${rate(serverBurst)} calls/s) vs ${ms(plainBurst)} (${rate(plainBurst)} calls/s)`,
        goal: "-",
        met: undefined,
      },
    ];
  } finally {
    await client.close();
    await raw.close();
    await inProcess?.close();
    fake.stop();
  }
}
