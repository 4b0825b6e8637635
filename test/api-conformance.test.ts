import { describe, expect, it } from "vitest";
import { FAKE_API_KEY } from "./fake-ollama-cloud.js";
import { textOf, useServers } from "./harness.js";

const t = useServers();

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from("IHDR-png-body"),
]).toString("base64");

/**
 * Every request the server sends carries only the fields Ollama's reference documents for its
 * endpoint (docs/openapi.yaml, docs/api/*.mdx, docs/capabilities/tool-calling.mdx): the fake
 * notes any other, and the tools are driven through each option they pass on.
 */
describe("requests as the published API documents them", () => {
  it("sends only documented fields, from every tool", async () => {
    const mcp = await t.server();
    t.fake.chatResponder = (request) =>
      request.tools && !request.messages.some((m) => m.role === "tool")
        ? {
            content: "",
            tool_calls: [
              { function: { name: "web_search", arguments: { query: "q", max_results: 2 } } },
            ],
          }
        : { content: '{"ok": true}', ...(request.think ? { thinking: "hm" } : {}) };
    const calls: [string, Record<string, unknown>][] = [
      [
        "cloud_chat",
        {
          prompt: "x",
          system: "s",
          think: "high",
          format: "json",
          options: { temperature: 0.2, num_predict: 10, stop: ["z"] },
        },
      ],
      [
        "cloud_chat",
        {
          messages: [
            { role: "user", content: "a" },
            { role: "assistant", content: "b" },
            { role: "user", content: "c" },
          ],
        },
      ],
      ["cloud_chat", { prompt: "see", model: "qwen3-vl:235b", images: [PNG] }],
      ["web_search", { query: "q", max_results: 3 }],
      ["web_fetch", { url: "https://example.com/a" }],
      ["search_and_summarize", { query: "q", max_results: 2 }],
      ["research", { question: "q?", max_steps: 2 }],
      ["consensus", { prompt: "q?", models: ["gpt-oss:120b", "gpt-oss:20b"] }],
      ["list_models", {}],
      ["cloud_usage", { range: "30d", scope: "self" }],
    ];
    for (const [name, args] of calls) {
      const result = await mcp.call(name, args);
      expect(result.isError, `${name}: ${textOf(result)}`).toBeFalsy();
    }
    const paths = new Set(t.fake.requests.map((r) => r.path));
    expect([...paths].sort()).toEqual(
      [
        "/api/balance",
        "/api/chat",
        "/api/show",
        "/api/tags",
        "/api/usage",
        "/api/web_fetch",
        "/api/web_search",
      ].sort(),
    );
    expect(t.fake.undocumented).toEqual([]);
  });

  it("notices a field the reference does not document", async () => {
    await fetch(`${t.fake.url}/api/web_search`, {
      method: "POST",
      headers: { authorization: `Bearer ${FAKE_API_KEY}` },
      body: JSON.stringify({ query: "q", maxResults: 3 }),
    });
    await fetch(`${t.fake.url}/api/usage?range=7d&group_by=model`, {
      headers: { authorization: `Bearer ${FAKE_API_KEY}` },
    });
    expect(t.fake.undocumented).toEqual(["web_search maxResults", "usage ?group_by"]);
  });

  it("answers as the reference says: max_results 1-10, think values, usage parameters", async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${t.fake.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${FAKE_API_KEY}` },
        body: JSON.stringify(body),
      });
    const get = (path: string) =>
      fetch(`${t.fake.url}${path}`, { headers: { authorization: `Bearer ${FAKE_API_KEY}` } });
    expect((await post("/api/web_search", { query: "q", max_results: 11 })).status).toBe(400);
    const think = await post("/api/chat", {
      model: "gpt-oss:120b",
      messages: [],
      think: "maximum",
    });
    expect(await think.json()).toEqual({
      error:
        'invalid think value: "maximum" (must be "high", "medium", "low", "max", true, or false)',
    });
    expect((await get("/api/usage?range=7d&range=24h")).status).toBe(400);
    expect((await get("/api/usage?range=1y")).status).toBe(400);
    expect((await get("/api/balance?range=7d")).status).toBe(400);
    expect((await get("/api/usage?scope=team")).status).toBe(403);
    // Ten a minute per user (four above), shared by both endpoints, then 429 with Retry-After.
    let last: Response | undefined;
    for (let i = 0; i < 7; i++) last = await get("/api/balance");
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
