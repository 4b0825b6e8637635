import type { ChatRequestBody } from "../test/fake-ollama-cloud.js";
import { FakeOllamaCloud } from "../test/fake-ollama-cloud.js";
import { connect } from "../test/harness.js";
import { median, ms, type Row, samples } from "./measure.js";

const CHAT_MS = 400;
const SEARCH_MS = 150;
const FETCH_MS = 300;
const RUNS = 5;
const PAGES = ["https://a.example/1", "https://b.example/2", "https://c.example/3"];

/**
 * research against a fake with injected latency: round 1 reads three pages, round 2 searches
 * and reads two more, round 3 answers. The floor is the model rounds plus the slowest tool call
 * of each round: what a loop that runs a reply's calls at once can reach.
 */
export async function benchResearch(): Promise<Row[]> {
  const fake = await FakeOllamaCloud.start();
  fake.latency.chat = CHAT_MS;
  fake.latency.web_search = SEARCH_MS;
  fake.latency.web_fetch = FETCH_MS;
  const call = (name: string, args: Record<string, unknown>) => ({
    function: { name, arguments: args },
  });
  fake.chatResponder = (request: ChatRequestBody) => {
    const rounds = request.messages.filter((m) => m.role === "assistant").length;
    if (rounds === 0)
      return { content: "", tool_calls: PAGES.map((url) => call("web_fetch", { url })) };
    if (rounds === 1) {
      return {
        content: "",
        tool_calls: [
          call("web_search", { query: "bench", max_results: 2 }),
          call("web_fetch", { url: `${PAGES[0]}/next` }),
          call("web_fetch", { url: `${PAGES[1]}/next` }),
        ],
      };
    }
    return { content: "The answer [1][2][3]." };
  };
  const mcp = await connect(fake, { OLLAMA_MCP_DEFER_AFTER_MS: "0" });
  const run = async () => {
    const result = await mcp.call("research", { question: `Compare ${PAGES.join(", ")}` });
    const steps = (result.structuredContent as { steps?: { ok: boolean }[] } | undefined)?.steps;
    if (result.isError || steps?.length !== 6 || steps.some((s) => !s.ok)) {
      throw new Error("research failed in the benchmark");
    }
  };
  try {
    await run();
    const measured = median(await samples(RUNS, run));
    const floor = 3 * CHAT_MS + FETCH_MS + Math.max(SEARCH_MS, FETCH_MS);
    return [
      {
        benchmark: `research vs its floor (3 model rounds of ${CHAT_MS} ms; rounds of 3 fetches and of a search + 2 fetches)`,
        result: `${ms(measured)} = ${(measured / floor).toFixed(3)}x the floor of ${floor} ms (one call after another: ${3 * CHAT_MS + 3 * FETCH_MS + SEARCH_MS + 2 * FETCH_MS} ms)`,
        goal: "<= 1.15x floor",
        met: measured / floor <= 1.15,
      },
    ];
  } finally {
    await mcp.close();
    await fake.close();
  }
}
