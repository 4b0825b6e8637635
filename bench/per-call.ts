import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Ollama } from "ollama";
import { FAKE_API_KEY, FakeOllamaCloud } from "../test/fake-ollama-cloud.js";
import { connect } from "../test/harness.js";
import { median, ms, type Row, timeIt } from "./measure.js";

const BIN = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));
const SEQUENTIAL = 500;
const CONCURRENT = 200;

/**
 * The same web_search calls through the spawned server (stdio, cache off) and directly with
 * ollama-js, against one fake upstream without latency: the difference is what the server adds.
 */
export async function benchPerCall(): Promise<Row[]> {
  const fake = await FakeOllamaCloud.start();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env: {
      PATH: process.env.PATH ?? "",
      OLLAMA_API_KEY: FAKE_API_KEY,
      OLLAMA_CLOUD_HOST: fake.url,
      OLLAMA_SEARCH_CACHE_TTL_MS: "0",
      OLLAMA_MCP_LOG_LEVEL: "off",
    },
  });
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(transport);
  // ollama-js posts web search to https://ollama.com; point it at the same fake.
  const direct = new Ollama({
    host: fake.url,
    headers: { authorization: `Bearer ${FAKE_API_KEY}` },
    fetch: (url, init) => fetch(String(url).replace("https://ollama.com", fake.url), init),
  });
  const viaServer = (i: number) =>
    client.callTool({ name: "web_search", arguments: { query: `q${i}`, max_results: 5 } });
  const viaOllamaJs = (i: number) =>
    direct.webSearch({ query: `q${i}`, max_results: 5 } as unknown as { query: string });

  const inProcess = await connect(fake, { OLLAMA_MCP_LOG_LEVEL: "off" });
  const viaInMemory = (i: number) =>
    inProcess.call("web_search", { query: `q${i}`, max_results: 5 });

  try {
    for (let i = 0; i < 50; i++) {
      await viaInMemory(i);
      await viaServer(i);
      await viaOllamaJs(i);
    }
    const server: number[] = [];
    const memory: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      server.push(await timeIt(() => viaServer(i)));
      memory.push(await timeIt(() => viaInMemory(i)));
      plain.push(await timeIt(() => viaOllamaJs(i)));
    }
    const added = median(server) - median(plain);
    const addedInProcess = median(memory) - median(plain);
    const burst = async (call: (i: number) => Promise<unknown>) =>
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
    return [
      {
        benchmark: `per-call overhead, ${SEQUENTIAL} sequential web_search (stdio) vs ollama-js direct`,
        result: `${ms(median(server))} vs ${ms(median(plain))} median = ${added.toFixed(3)} ms added`,
        goal: "<= 0.3 ms added",
        met: added <= 0.3,
      },
      {
        benchmark: "the same, in process (MCP client and server over an in-memory transport)",
        result: `${ms(median(memory))} vs ${ms(median(plain))} median = ${addedInProcess.toFixed(3)} ms added`,
        goal: "<= 0.3 ms added",
        met: addedInProcess <= 0.3,
      },
      {
        benchmark: `${CONCURRENT} concurrent web_search through the server vs ollama-js direct`,
        result: `${ms(serverBurst)} (${Math.round((CONCURRENT / serverBurst) * 1000)} calls/s) vs ${ms(plainBurst)} (${Math.round((CONCURRENT / plainBurst) * 1000)} calls/s)`,
        goal: "-",
        met: undefined,
      },
    ];
  } finally {
    await client.close();
    await inProcess.close();
    await fake.close();
  }
}
