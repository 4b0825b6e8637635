import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { bundleLikeDist } from "./launch.js";
import { median, ms, type Row, timeIt } from "./measure.js";
import { benchEnv, startFakeProcess } from "./per-call.js";
import { pairedRatio } from "./startup.js";

const BIN = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));
const CLIENTS = 20;
const CALLS = 500;
const ROUNDS = 7;
const GOAL = 1.1;

type Era = "2026-07-28" | "2025-11-25";

/**
 * 500 web_search calls from 20 HTTP clients at once, through our bin and through a bare v2
 * server doing the same work (createMcpHandler with one web_search tool that hands the call to
 * ollama-js, bench/bare-server.ts --http), against one fake upstream in a process of its own.
 * In each era: 2026-07-28 clients (no sessions on either side), and 2025 clients (our sessions,
 * the bare server's stateless fallback). The two take turns, round by round; the ratio is the
 * median of the per-round ratios.
 */
export async function benchHttpLoad(): Promise<Row[]> {
  const fake = await startFakeProcess();
  // The 20 clients (one identity on an open loopback server) are not queued behind one
  // caller's share.
  const env = benchEnv(fake.url, { OLLAMA_UPSTREAM_CONCURRENCY: String(CLIENTS) });
  const ours = await listen(process.execPath, [BIN, "--http", "--port", "0"], env);
  const bare = await listen(
    process.execPath,
    [await bundleLikeDist("bare-server.ts"), "--http"],
    env,
  );
  try {
    const rows: Row[] = [];
    for (const era of ["2026-07-28", "2025-11-25"] as const) {
      await load(ours.url, era);
      await load(bare.url, era);
      const times = { ours: [] as number[], bare: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (["ours", "bare"] as const) : (["bare", "ours"] as const);
        for (const which of order) {
          times[which].push(await load(which === "ours" ? ours.url : bare.url, era));
        }
      }
      const ratio = pairedRatio(times.ours, times.bare);
      rows.push({
        benchmark: `${CALLS} web_search calls from ${CLIENTS} HTTP clients at once, ${era} (${ROUNDS} rounds): ours vs a bare v2 server (createMcpHandler, one tool)`,
        result: `${ms(median(times.ours))} vs ${ms(median(times.bare))}: ${ratio.toFixed(2)}x`,
        goal: `<= ${GOAL}x the bare server`,
        met: ratio <= GOAL,
      });
    }
    return rows;
  } finally {
    ours.child.kill("SIGTERM");
    bare.child.kill("SIGTERM");
    fake.stop();
  }
}

/** Connects the clients (not timed), then times their calls, each client's one after another. */
async function load(url: string, era: Era): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const client = new Client(
        { name: `load-${i}`, version: "1" },
        era === "2026-07-28" ? { versionNegotiation: { mode: "auto" } } : {},
      );
      const transport = new StreamableHTTPClientTransport(new URL(url));
      await client.connect(transport);
      if (client.getNegotiatedProtocolVersion() !== era) {
        throw new Error(`${url} negotiated ${client.getNegotiatedProtocolVersion()}, not ${era}`);
      }
      return { client, transport };
    }),
  );
  const perClient = CALLS / CLIENTS;
  const elapsed = await timeIt(() =>
    Promise.all(
      clients.map(async ({ client }, c) => {
        for (let i = 0; i < perClient; i++) {
          const result = await client.callTool({
            name: "web_search",
            arguments: { query: `q${c}-${i}`, max_results: 5 },
          });
          // Timing failed calls would flatter a server.
          if (result.isError) throw new Error(`web_search failed at ${url}`);
        }
      }),
    ),
  );
  await Promise.all(
    clients.map(async ({ client, transport }) => {
      if (transport.sessionId) await transport.terminateSession();
      await client.close();
    }),
  );
  return elapsed;
}

async function listen(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let err = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      const match = /Listening on (http:\/\/\S+)/.exec(err);
      if (match?.[1]) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code}: ${err}`)));
  });
  return { url, child };
}
