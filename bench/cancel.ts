import { FakeOllamaCloud } from "../test/fake-ollama-cloud.js";
import { connect } from "../test/harness.js";
import { median, ms, type Row } from "./measure.js";

const RUNS = 20;

/** From notifications/cancelled to the upstream connection closing, while the fake hangs. */
export async function benchCancel(): Promise<Row[]> {
  const fake = await FakeOllamaCloud.start();
  const mcp = await connect(fake);
  const times: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      fake.reset();
      fake.inject("chat", { hang: true });
      const controller = new AbortController();
      const call = mcp.client
        .callTool({ name: "cloud_chat", arguments: { prompt: "x" } }, { signal: controller.signal })
        .catch(() => undefined);
      while (fake.requestsTo("/api/chat").length === 0)
        await new Promise((resolve) => setTimeout(resolve, 1));
      const upstream = fake.requestsTo("/api/chat")[0];
      const started = performance.now();
      controller.abort();
      await upstream?.closed;
      times.push(performance.now() - started);
      await call;
    }
  } finally {
    await mcp.close();
    await fake.close();
  }
  const m = median(times);
  return [
    {
      benchmark: `cancel to upstream connection closed (median of ${RUNS})`,
      result: `${ms(m)} (max ${ms(Math.max(...times))})`,
      goal: "a few hundred ms at most",
      met: m <= 300,
    },
  ];
}
