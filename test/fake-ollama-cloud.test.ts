import { describe, expect, it } from "vitest";
import { FAKE_API_KEY } from "./fake-ollama-cloud.js";
import { until, useFake } from "./harness.js";

const t = useFake();

const search = (signal?: AbortSignal) =>
  fetch(`${t.fake.url}/api/web_search`, {
    method: "POST",
    headers: { authorization: `Bearer ${FAKE_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ query: "q" }),
    signal,
  });

// A server stopped at the end of one test can leave a request waiting in the fake; it must not
// take the fault the next test queues, or that test sees a normal answer where it set a fault.
describe("the fake cloud keeps tests apart", () => {
  it("drops a request begun before reset() instead of giving it the next test's fault", async () => {
    t.fake.latency.web_search = 200;
    const early = search().catch((error: unknown) => error);
    await until(() => t.fake.requestsTo("/api/web_search").length === 1);
    t.fake.reset();
    t.fake.inject("web_search", { status: 503, body: { error: "for the next request" } });
    expect(await early).toBeInstanceOf(Error);
    expect((await search()).status).toBe(503);
  });

  it("drops a request whose client left while it waited", async () => {
    t.fake.latency.web_search = 200;
    const controller = new AbortController();
    const left = search(controller.signal).catch((error: unknown) => error);
    await until(() => t.fake.requestsTo("/api/web_search").length === 1);
    controller.abort();
    await left;
    t.fake.inject("web_search", { status: 503, body: { error: "for the next request" } });
    // Set once the waiting request wakes, just before it would take a fault.
    await until(() => t.fake.maxConcurrent.web_search === 1);
    t.fake.latency.web_search = 0;
    expect((await search()).status).toBe(503);
  });
});
