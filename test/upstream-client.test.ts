import { afterEach, describe, expect, it, vi } from "vitest";
import { systemClock } from "../src/clock.js";
import { redactor } from "../src/redact.js";
import { createEndpoint } from "../src/upstream/endpoint.js";
import { CLOUD } from "../src/upstream/errors.js";
import { Limiter } from "../src/upstream/limiter.js";
import { DEFAULT_RETRY_POLICY, RetryBudget } from "../src/upstream/retry.js";
import { listenOnLoopback } from "./loopback-server.js";

const made = vi.hoisted(() => ({ clients: 0 }));

vi.mock("ollama/browser", async (importOriginal) => {
  const real = await importOriginal<typeof import("ollama/browser")>();
  class Counted extends real.Ollama {
    constructor(...args: ConstructorParameters<typeof real.Ollama>) {
      super(...args);
      made.clients++;
    }
  }
  return { ...real, Ollama: Counted };
});

const deps = () => ({
  policy: DEFAULT_RETRY_POLICY,
  clock: systemClock,
  fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init),
  limiter: new Limiter(() => systemClock.now(), 16),
  budget: new RetryBudget(0.2, systemClock),
  redact: redactor([]),
});

describe("the ollama-js client of an upstream", () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  it("is made once per upstream and reused, each call still sending its own key", async () => {
    const seen: { key: string | undefined; query: string }[] = [];
    const held: (() => void)[] = [];
    const server = await listenOnLoopback(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      const { query } = JSON.parse(body) as { query: string };
      seen.push({ key: req.headers.authorization, query });
      // Every call is in flight before any is answered, and answers go last first.
      await new Promise<void>((resolve) => {
        held.push(resolve);
        if (held.length === 5) for (const answer of held.reverse()) answer();
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ results: [{ title: query, url: "https://a.example", content: "" }] }),
      );
    });
    servers.push(server);
    made.clients = 0;
    const endpoint = createEndpoint(
      { baseUrl: server.url, apiKey: "server-key", requiresKey: true, service: CLOUD },
      deps(),
    );
    expect(made.clients).toBe(1);
    const calls = [9, 7, 5, 3, 1].map((n) =>
      endpoint.webSearch(`q${n}`, 1, n % 3 === 0 ? { apiKey: `caller-${n}` } : {}),
    );
    const answers = await Promise.all(calls);
    expect(answers.map((hits) => hits[0]?.title)).toEqual(["q9", "q7", "q5", "q3", "q1"]);
    expect(made.clients).toBe(1);
    for (const { key, query } of seen) {
      const n = Number(query.slice(1));
      expect(key, query).toBe(n % 3 === 0 ? `Bearer caller-${n}` : "Bearer server-key");
    }
  });
});
