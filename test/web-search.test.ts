import { describe, expect, it } from "vitest";
import { textOf, useFakeCloud } from "./harness.js";

const t = useFakeCloud();

describe("web_search", () => {
  it("posts query and max_results (snake case) to the configured host, not ollama.com", async () => {
    const result = await t.mcp.call("web_search", {
      query: "  ollama cloud models  ",
      max_results: 3,
    });
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as { query: string; results: unknown[] };
    expect(structured.query).toBe("ollama cloud models");
    expect(structured.results).toHaveLength(3);
    expect(structured.results[0]).toMatchObject({
      title: "Result 1 for ollama cloud models",
      url: "https://example.com/ollama-cloud-models/1",
    });
    expect((structured.results[0] as { content: string }).content).toMatch(
      /^Page 1 says something about ollama cloud models\./,
    );
    const [request] = t.fake.requestsTo("/api/web_search");
    expect(request?.body).toEqual({ query: "ollama cloud models", max_results: 3 });
    expect(request?.headers.authorization).toBe("Bearer fake-key-7f3a");
    expect(textOf(result)).toMatch(/^Web results for "ollama cloud models":\n\n1\. Result 1/);
  });

  it("defaults to 5 results", async () => {
    const result = await t.mcp.call("web_search", { query: "x" });
    expect((result.structuredContent as { results: unknown[] }).results).toHaveLength(5);
    expect(t.fake.requestsTo("/api/web_search")[0]?.body).toEqual({ query: "x", max_results: 5 });
  });

  it("says so when there are no results", async () => {
    t.fake.searchResponder = () => [];
    const result = await t.mcp.call("web_search", { query: "nothing" });
    expect(result.structuredContent).toEqual({
      query: "nothing",
      results: [],
      route: { ran_on: "cloud", via: "direct" },
    });
    expect(textOf(result)).toBe('No web results for "nothing".');
  });

  it.each([
    [{}, /expected string, received undefined|query must be a string/],
    [{ query: "   " }, /query must not be empty/],
    [{ query: 42 }, /query must be a string/],
    [{ query: "x", max_results: 0 }, /max_results must be an integer from 1 to 10/],
    [{ query: "x", max_results: 11 }, /max_results must be an integer from 1 to 10/],
    [{ query: "x", max_results: 2.5 }, /max_results must be an integer from 1 to 10/],
    [
      { query: "x", maxResults: 2 },
      /web_search does not take "maxResults"; it takes: query, max_results/,
    ],
  ])("refuses %j without calling upstream", async (args, message) => {
    const result = await t.mcp.call("web_search", args);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(message);
    expect(t.fake.requests).toHaveLength(0);
  });

  it.each([
    [
      { status: 401, body: { error: "unauthorized" } },
      /rejected the API key \(401: unauthorized\)/,
    ],
    [
      { status: 429, body: { error: "you've reached your weekly usage limit" } },
      /usage limit reached \(429\): you've reached your weekly usage limit\./,
    ],
    [
      { status: 500, body: { error: "internal" } },
      /server error \(500 Internal Server Error\): internal/,
    ],
    [
      { status: 400, body: { error: "max_results must be between 1 and 10" } },
      /refused the request \(400 Bad Request\)/,
    ],
    [
      { malformed: "<html>oops</html>", contentType: "text/html" },
      /could not understand \(the web search answer was not JSON\)/,
    ],
    [{ malformed: '{"hits":[]}' }, /the web search answer did not have the expected fields/],
  ] as const)("maps %j to a clear error", async (fault, message) => {
    t.fake.inject("web_search", fault);
    const result = await t.mcp.call("web_search", { query: "x" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(message);
  });
});
