import { Ollama } from "ollama";
import {
  SYNTHESIS_SYSTEM_PROMPT,
  summarySystemPrompt,
  summaryUserPrompt,
  synthesisUserPrompt,
} from "../src/tools/research-prompts.js";
import { FAKE_API_KEY, FakeOllamaCloud } from "../test/fake-ollama-cloud.js";
import { connect } from "../test/harness.js";
import { median, ms, type Row, samples } from "./measure.js";

const SEARCH_MS = 150;
const CHAT_MS = 400;
const RESULTS = 5;
const RUNS = 5;

/**
 * search_and_summarize against a fake with injected latency, side by side with the sequential
 * approach (search, then one summary after another, then the same synthesis).
 */
export async function benchSearchAndSummarize(): Promise<Row[]> {
  const fake = await FakeOllamaCloud.start();
  fake.latency.web_search = SEARCH_MS;
  fake.latency.chat = CHAT_MS;
  const mcp = await connect(fake);
  const ollama = new Ollama({
    host: fake.url,
    headers: { authorization: `Bearer ${FAKE_API_KEY}` },
  });
  const search = async (query: string) => {
    const response = await fetch(`${fake.url}/api/web_search`, {
      method: "POST",
      headers: { authorization: `Bearer ${FAKE_API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ query, max_results: RESULTS }),
    });
    return (
      (await response.json()) as { results: { title: string; url: string; content: string }[] }
    ).results;
  };
  const chat = async (system: string, user: string) =>
    (
      await ollama.chat({
        model: "gpt-oss:120b",
        messages: [
          { role: "system", content: system },
          { role: "user", content: user },
        ],
      })
    ).message.content;

  const sequentialRun = async (synthesize: boolean) => {
    const hits = await search("bench");
    const summaries = [];
    for (const [i, hit] of hits.entries()) {
      const summary = await chat(summarySystemPrompt("medium"), summaryUserPrompt("bench", hit));
      summaries.push({ index: i + 1, ...hit, summary });
    }
    if (synthesize) await chat(SYNTHESIS_SYSTEM_PROMPT, synthesisUserPrompt("bench", summaries));
  };
  const pipelineRun = (synthesize: boolean) => async () => {
    const result = await mcp.call("search_and_summarize", {
      query: "bench",
      max_results: RESULTS,
      synthesize,
    });
    if (result.isError) throw new Error("search_and_summarize failed in the benchmark");
  };

  try {
    const withAnswer = median(await samples(RUNS, pipelineRun(true)));
    const summariesOnly = median(await samples(RUNS, pipelineRun(false)));
    const seqWithAnswer = median(await samples(RUNS, () => sequentialRun(true)));
    const seqSummaries = median(await samples(RUNS, () => sequentialRun(false)));
    const floor = SEARCH_MS + CHAT_MS + CHAT_MS;
    const ceiling = (SEARCH_MS + (RESULTS + 1) * CHAT_MS) / floor;
    const setup = `search ${SEARCH_MS} ms, chat ${CHAT_MS} ms, ${RESULTS} results`;
    return [
      {
        benchmark: `search_and_summarize vs its floor (${setup})`,
        result: `${ms(withAnswer)} = ${(withAnswer / floor).toFixed(3)}x the floor of ${floor} ms`,
        goal: "<= 1.15x floor",
        met: withAnswer / floor <= 1.15,
      },
      {
        benchmark: "summaries only vs sequential summaries (the seed's loop)",
        result: `${ms(summariesOnly)} vs ${ms(seqSummaries)} = ${(seqSummaries / summariesOnly).toFixed(2)}x faster`,
        goal: "-",
        met: undefined,
      },
      {
        benchmark: "with cited answer vs sequential + the same answer",
        result: `${ms(withAnswer)} vs ${ms(seqWithAnswer)} = ${(seqWithAnswer / withAnswer).toFixed(2)}x faster (at most ${ceiling.toFixed(2)}x is possible here)`,
        goal: "-",
        met: undefined,
      },
    ];
  } finally {
    await mcp.close();
    await fake.close();
  }
}
