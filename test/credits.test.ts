import { describe, expect, it } from "vitest";
import { ownKeyAuth } from "../src/caller.js";
import { type ChatRequestBody, DEFAULT_PLAN } from "./fake-ollama-cloud.js";
import { textOf, useServers } from "./harness.js";
import { ManualClock } from "./manual-clock.js";

const t = useServers();

const structured = (result: { structuredContent?: unknown }) =>
  result.structuredContent as Record<string, unknown>;
const accountRequests = () =>
  t.fake.requests.filter((r) => r.path === "/api/balance" || r.path === "/api/usage");

describe("cloud_usage", () => {
  it("shows the credits left, when they renew, the spend of the range and a bar per bucket", async () => {
    const mcp = await t.server();
    // 2026-11-30 14:20 UTC: 24 whole hours from 2026-11-29 14:00, and this hour so far.
    t.fake.now = () => Date.UTC(2026, 10, 30, 14, 20);
    const result = await mcp.call("cloud_usage", { range: "24h" });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(t.fake.requestsTo("/api/usage")[0]?.query).toBe("range=24h&scope=self");
    expect(t.fake.requestsTo("/api/balance")[0]?.query).toBe("");
    const { balance, usage } = structured(result) as {
      balance: Record<string, unknown>;
      usage: { granularity: string; buckets: unknown[]; totals: Record<string, number> };
    };
    expect(balance).toEqual({
      included: {
        balance_usd: 72.5,
        allowance_usd: 100,
        period: { from: "2026-11-15T09:30:00Z", until: "2026-12-15T09:30:00Z" },
      },
      purchased: { balance_usd: 25 },
    });
    expect(usage.granularity).toBe("hour");
    expect(usage.buckets).toHaveLength(25);
    expect(usage.buckets.at(-1)).toMatchObject({ partial: true, until: "2026-11-30T14:20:00Z" });
    const lines = textOf(result).split("\n");
    expect(lines[0]).toBe(
      "Credits: $72.50 of $100.00 included left (they renew 2026-12-15 09:30 UTC), and $25.00 purchased.",
    );
    expect(lines[1]).toMatch(
      /^You spent \$\d+\.\d{4} in the last 24 hours: \d+ requests, [\d,]+ input tokens \([\d,]+ cached\), [\d,]+ output\.$/,
    );
    // One bar per bucket, the empty ones lowest, the largest full.
    expect(lines[2]).toMatch(/^[▁▂▃▄▅▆▇█]{25}$/);
    expect(lines[2]).toContain("█");
    const bars = [...(lines[2] as string)];
    expect(bars.filter((_, i) => i % 3 === 2).every((bar) => bar === "▁")).toBe(true);
    expect(bars.filter((_, i) => i % 3 !== 2).every((bar) => bar !== "▁")).toBe(true);
    expect(lines[3]).toMatch(/^11-29 14:00 +11-30 14:00 UTC$/);
  });

  it("says what a legacy plan reports: its limits, and request counts only", async () => {
    const mcp = await t.server();
    t.fake.plan = {
      kind: "legacy",
      sessionPercent: 75,
      sessionResetsAt: "2026-12-01T07:00:00Z",
      weeklyPercent: 40,
      weeklyResetsAt: "2026-12-05T00:00:00Z",
      purchasedUsd: 0,
    };
    const result = await mcp.call("cloud_usage", {});
    expect(structured(result)).toMatchObject({
      balance: {
        included: { session: { remaining_percent: 75 }, weekly: { remaining_percent: 40 } },
      },
      usage: { range: "7d", granularity: "day" },
    });
    expect((structured(result).usage as { totals: object }).totals).not.toHaveProperty("usage_usd");
    expect(textOf(result)).toMatch(
      /^Plan limits: 75% of this session left \(resets 2026-12-01 07:00 UTC\), 40% of this week \(resets 2026-12-05 00:00 UTC\); \$0\.00 purchased\.\nYou made \d+ requests in the last 7 days \(a legacy plan reports no cost or tokens\)/,
    );
  });

  it("asks each endpoint once a minute per caller: the endpoints allow 10 requests a minute", async () => {
    const clock = new ManualClock();
    const alice = await t.server(
      {},
      { clock, authInfo: { token: "", clientId: "alice", scopes: [] } },
    );
    const bob = await t.server(
      {},
      { clock, upstream: alice.upstream, authInfo: { token: "", clientId: "bob", scopes: [] } },
    );
    await alice.call("cloud_usage", {});
    await alice.call("cloud_usage", {});
    expect(accountRequests()).toHaveLength(2);
    await alice.call("cloud_usage", { range: "30d" });
    expect(accountRequests()).toHaveLength(3);
    clock.advance(61_000);
    await alice.call("cloud_usage", {});
    expect(accountRequests()).toHaveLength(5);
    await bob.call("cloud_usage", {});
    expect(accountRequests()).toHaveLength(5);
  });

  it("reports each caller's own account with MCP_HTTP_KEYS=client", async () => {
    const keys = ["ollama-key-usage-a1", "ollama-key-usage-b2"];
    t.fake.otherKeys = keys;
    const as = (key: string) => ({
      authInfo: ownKeyAuth(key),
    });
    const env = { OLLAMA_API_KEY: undefined };
    const a = await t.server(env, as(keys[0] as string));
    const b = await t.server(env, { ...as(keys[1] as string), upstream: a.upstream });
    await a.call("cloud_usage", {});
    await b.call("cloud_usage", {});
    expect(accountRequests().map((r) => r.headers.authorization)).toEqual([
      `Bearer ${keys[0]}`,
      `Bearer ${keys[0]}`,
      `Bearer ${keys[1]}`,
      `Bearer ${keys[1]}`,
    ]);
  });

  it("says when to try again after a 429, and gives the upstream's refusal of team usage clearly", async () => {
    const mcp = await t.server();
    t.fake.inject("usage", {
      status: 429,
      body: { error: "too many requests" },
      headers: { "retry-after": "40" },
    });
    const limited = await mcp.call("cloud_usage", {});
    expect(limited.isError).toBe(true);
    expect(textOf(limited)).toBe(
      "ollama.com answers questions about credits and usage 10 times a minute, and that was reached (429: too many requests); try again in 40s. This limits only these questions: model calls and web searches go on as before.",
    );
    // "exceeded" would read as a usage limit anywhere else: here it is the endpoint's own.
    t.fake.inject("usage", { status: 429, body: { error: "rate limit exceeded" } });
    expect(textOf(await mcp.call("cloud_usage", { range: "7d" }))).toMatch(
      /^ollama\.com answers questions about credits and usage 10 times a minute, and that was reached \(429: rate limit exceeded\); try again in a minute\./,
    );
    const team = await mcp.call("cloud_usage", { scope: "team" });
    expect(textOf(team)).toBe(
      `Ollama's cloud would not show the team's usage (403: only team admins can view team usage): only a team admin can see it. scope "self" shows your own.`,
    );
    t.fake.teamAdmin = true;
    const admin = await mcp.call("cloud_usage", { scope: "team", range: "30d" });
    expect(structured(admin)).toMatchObject({ usage: { scope: "team", range: "30d" } });
    expect(textOf(admin)).toMatch(/^Credits: .*\nThe team spent /);
  });

  it("refuses bad arguments before asking, naming the field", async () => {
    const mcp = await t.server();
    for (const [args, message] of [
      [{ range: "1y" }, /range must be "24h", "7d" or "30d"/],
      [{ scope: "org" }, /scope must be "self" or "team"/],
      [{ group_by: "model" }, /cloud_usage does not take "group_by"/],
    ] as const) {
      expect(textOf(await mcp.call("cloud_usage", args))).toMatch(message);
    }
    expect(accountRequests()).toHaveLength(0);
  });

  it("says OLLAMA_API_KEY is not set, as every other tool does, in the default cloud mode", async () => {
    const mcp = await t.server({ OLLAMA_API_KEY: undefined });
    const usage = textOf(await mcp.call("cloud_usage", {}));
    expect(usage).toBe(textOf(await mcp.call("web_search", { query: "q" })));
    expect(usage).toMatch(/^OLLAMA_API_KEY is not set/);
    expect(usage).not.toMatch(/local Ollama/);
    expect(t.fake.requests).toHaveLength(0);
  });

  it("says it needs OLLAMA_API_KEY when the cloud is reached through a local Ollama", async () => {
    const mcp = await t.server({ OLLAMA_API_KEY: undefined, OLLAMA_MODE: "hybrid" });
    const result = await mcp.call("cloud_usage", {});
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /^Your credits and usage come from ollama\.com with an API key, and this server has none: .*set OLLAMA_API_KEY/,
    );
    expect(t.fake.requests).toHaveLength(0);
  });
});

describe("refusals for spent credits say what is left and what to do", () => {
  it("adds the balance to a 402, asking for it once", async () => {
    const mcp = await t.server();
    t.fake.plan = { ...DEFAULT_PLAN, includedUsd: 0, purchasedUsd: 0 };
    t.fake.inject("chat", { status: 402, body: { error: "you have no credits left" } }, 2);
    const first = await mcp.call("cloud_chat", { prompt: "x" });
    expect(textOf(first)).toBe(
      "Ollama's cloud usage limit reached (402): you have no credits left. Left: $0.00 of your $100.00 included credits, which renew on 2026-12-15 09:30 UTC, and $0.00 purchased. Wait until 2026-12-15 09:30 UTC, add credits at https://ollama.com/settings.",
    );
    await mcp.call("cloud_chat", { prompt: "x" });
    expect(t.fake.requestsTo("/api/balance")).toHaveLength(1);
  });

  it("does not quote a balance that contradicts a 402 as fact", async () => {
    const mcp = await t.server();
    t.fake.inject("chat", { status: 402, body: { error: "you have no credits left" } });
    expect(textOf(await mcp.call("cloud_chat", { prompt: "x" }))).toBe(
      "Ollama's cloud usage limit reached (402): you have no credits left. The balance read just now still shows $72.50 of your $100.00 included credits, which renew on 2026-12-15 09:30 UTC, and $25.00 purchased: it can lag behind what was spent, and the cloud's refusal is what counts. Check it, or add credits, at https://ollama.com/settings.",
    );
  });

  it("says an hourly limit lifts within the hour, not when the credits renew", async () => {
    const mcp = await t.server();
    const limit = "you've reached your hourly usage limit, please wait or upgrade to continue";
    t.fake.inject("chat", { status: 429, body: { error: limit } });
    const text = textOf(await mcp.call("cloud_chat", { prompt: "x" }));
    expect(text).toBe(
      `Ollama's cloud usage limit reached (429): ${limit}. This limit is hourly: it lifts within the hour, not when your credits renew. Your monthly credits: $72.50 of your $100.00 included credits, which renew on 2026-12-15 09:30 UTC, and $25.00 purchased.`,
    );
    expect(text).not.toMatch(/Wait until/);
    t.fake.inject("chat", {
      status: 429,
      body: { error: limit },
      headers: { "retry-after": "1200" },
    });
    expect(textOf(await mcp.call("cloud_chat", { prompt: "x" }))).toContain(
      "Retry after 1200s. This limit is hourly: it lifts in 1200s, not when your credits renew.",
    );
  });

  it("tells a usage limit from a plan's busy slots, and suggests a local model in hybrid mode", async () => {
    const mcp = await t.server({
      OLLAMA_MODE: "hybrid",
      OLLAMA_LOCAL_MODEL: "qwen3:8b",
      OLLAMA_CLOUD_VIA: "direct",
    });
    t.fake.plan = {
      kind: "legacy",
      sessionPercent: 0,
      sessionResetsAt: "2026-12-01T07:00:00Z",
      weeklyPercent: 40,
      weeklyResetsAt: "2026-12-05T00:00:00Z",
      purchasedUsd: 0,
    };
    const limit = "you (alice) have reached your session usage limit, upgrade for higher limits";
    t.fake.inject("web_search", { status: 429, body: { error: limit } });
    expect(textOf(await mcp.call("web_search", { query: "q" }))).toBe(
      `Ollama's cloud usage limit reached (429): ${limit}. Left: 0% of this session's usage (resets 2026-12-01 07:00 UTC), 40% of this week's (resets 2026-12-05 00:00 UTC), and $0.00 purchased. Wait until 2026-12-01 07:00 UTC, add credits at https://ollama.com/settings, or run it on a local model (model "qwen3:8b:local").`,
    );
    t.fake.inject("web_search", {
      status: 429,
      body: { error: "timed out waiting for a concurrent request slot" },
    });
    expect(textOf(await mcp.call("web_search", { query: "q2" }))).toMatch(
      /^Ollama's cloud had no free slot for this request \(429: timed out waiting for a concurrent request slot\): your plan runs a limited number of cloud requests at once/,
    );
  });

  it("keeps the rest of the message when the balance cannot be read", async () => {
    const mcp = await t.server();
    t.fake.inject("chat", { status: 402, body: { error: "no credits" } });
    t.fake.inject("balance", { status: 500, body: { error: "down" } });
    expect(textOf(await mcp.call("cloud_chat", { prompt: "x" }))).toBe(
      "Ollama's cloud usage limit reached (402): no credits. What is left of your credits could not be read just now; see https://ollama.com/settings.",
    );
  });
});

describe("what the balance's own limit is called", () => {
  it("says so in words when the balance endpoint's own rate limit keeps it from being read", async () => {
    const mcp = await t.server();
    t.fake.inject("chat", { status: 402, body: { error: "no credits" } });
    t.fake.inject("balance", { status: 429, body: { error: "rate limit exceeded" } });
    const text = textOf(await mcp.call("cloud_chat", { prompt: "x" }));
    expect(text).toContain(
      "What is left of your credits could not be read just now (the balance can be asked for 10 times a minute)",
    );
    expect(text).not.toMatch(/Error\)/);
  });
});

describe("retired models are named as such", () => {
  it("says when a model was retired and names Ollama's replacement, following a retired one to the next", async () => {
    const mcp = await t.server();
    t.fake.models = [...t.fake.models, "glm-5.3"];
    const result = await mcp.call("cloud_chat", { prompt: "x", model: "qwen3-coder:480b" });
    expect(textOf(result)).toBe(
      'Model "qwen3-coder:480b" was retired from Ollama\'s cloud on 2026-07-15. Ollama recommends glm-5.3 instead, which the cloud has. (https://docs.ollama.com/cloud/model-lifecycle)',
    );
  });

  it("names the closest models the cloud lists when the replacement is not there either", async () => {
    const mcp = await t.server();
    const result = await mcp.call("search_and_summarize", { query: "q", model: "kimi-k2.5" });
    expect(textOf(result)).toMatch(
      /^Model "kimi-k2\.5" was retired from Ollama's cloud on 2026-07-31\. Ollama recommended kimi-k2\.6, which the cloud does not list now either\. Models available there now include: gpt-oss:120b, /,
    );
    expect(t.fake.requestsTo("/api/web_search")).toHaveLength(0);
  });
});

describe('think, "max" included', () => {
  it("sends think as given, max too", async () => {
    const mcp = await t.server();
    const result = await mcp.call("cloud_chat", { prompt: "x", think: "max" });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect((t.fake.requestsTo("/api/chat")[0]?.body as ChatRequestBody | undefined)?.think).toBe(
      "max",
    );
    await mcp.call("consensus", {
      prompt: "x",
      models: ["gpt-oss:120b", "gpt-oss:20b"],
      think: "max",
    });
    await mcp.call("research", { question: "x", think: "max" });
    const thinks = t.fake.requestsTo("/api/chat").map((r) => (r.body as ChatRequestBody).think);
    expect(thinks.every((think) => think === "max")).toBe(true);
  });

  it("says clearly that a model does not think, naming models that do", async () => {
    const mcp = await t.server();
    const result = await mcp.call("cloud_chat", { prompt: "x", model: "glm-4.6", think: "max" });
    expect(textOf(result)).toBe(
      'Model "glm-4.6" does not think, so think cannot be used with it (the service said ""glm-4.6" does not support thinking"). Call it without think (or with think: false), or pick a model that thinks. Models on Ollama\'s cloud that do: gpt-oss:120b, gpt-oss:20b, qwen3-vl:235b, deepseek-v3.2.',
    );
  });
});

describe("a plan's concurrent slots", () => {
  const slowAnswers = (request: ChatRequestBody) => ({
    content: `${request.model} answers slowly.`,
    chunkSize: 4,
    chunkDelayMs: 40,
  });

  it("gets every answer of a consensus of three on a plan that runs one at a time", async () => {
    const mcp = await t.server();
    t.fake.planSlots = 1;
    t.fake.slotWaitMs = 200;
    t.fake.chatResponder = slowAnswers;
    const result = await mcp.call("consensus", {
      prompt: "Q?",
      models: ["gpt-oss:120b", "gpt-oss:20b", "deepseek-v3.2"],
    });
    expect(result.isError, textOf(result)).toBeFalsy();
    const answers = (structured(result).answers as { model: string; answer?: string }[]).map(
      (a) => a.answer,
    );
    expect(answers).toEqual([
      "gpt-oss:120b answers slowly.",
      "gpt-oss:20b answers slowly.",
      "deepseek-v3.2 answers slowly.",
    ]);
    expect(structured(result).synthesis).toBeTruthy();
    // Two of the three first waited in the plan's queue until it gave up on them.
    expect(t.fake.requestsTo("/api/chat").length).toBeGreaterThan(4);
  });

  it("summarises every result on a plan that runs one at a time", async () => {
    const mcp = await t.server();
    t.fake.planSlots = 1;
    t.fake.slotWaitMs = 200;
    t.fake.chatResponder = slowAnswers;
    const result = await mcp.call("search_and_summarize", { query: "q", max_results: 3 });
    const sources = structured(result).sources as { summary?: string; error?: string }[];
    expect(sources.map((s) => s.error)).toEqual([undefined, undefined, undefined]);
    expect(structured(result).answer).toBeTruthy();
    expect(t.fake.requestsTo("/api/chat").length).toBeGreaterThan(4);
  });
});
