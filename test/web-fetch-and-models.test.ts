import { describe, expect, it } from "vitest";
import { connect, textOf, useFakeCloud } from "./harness.js";

const t = useFakeCloud();

describe("web_fetch", () => {
  it("returns the page's title, markdown content and links", async () => {
    const result = await t.mcp.call("web_fetch", { url: " https://ollama.com/blog " });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({
      url: "https://ollama.com/blog",
      title: "Page at https://ollama.com/blog",
      content: "# Page at https://ollama.com/blog\n\nThe full text of https://ollama.com/blog.",
      links: ["https://ollama.com/blog/next"],
      truncated: false,
      total_chars: 76,
      route: { ran_on: "cloud", via: "direct" },
    });
    expect(t.fake.requestsTo("/api/web_fetch")[0]?.body).toEqual({
      url: "https://ollama.com/blog",
    });
    expect(textOf(result)).toMatch(
      /^# Page at https:\/\/ollama.com\/blog\nhttps:\/\/ollama.com\/blog\n\n# Page at/,
    );
  });

  it("cuts long pages to max_chars and says so", async () => {
    t.fake.fetchResponder = (url) => ({
      title: "Long",
      content: "a".repeat(5_000),
      links: Array.from({ length: 300 }, (_, i) => `${url}/${i}`),
    });
    const result = await t.mcp.call("web_fetch", {
      url: "http://example.com/long",
      max_chars: 1_000,
    });
    const structured = result.structuredContent as {
      content: string;
      truncated: boolean;
      total_chars: number;
      links: string[];
    };
    expect(structured.content).toHaveLength(1_000);
    expect(structured).toMatchObject({ truncated: true, total_chars: 5_000 });
    expect(structured.links).toHaveLength(100);
    expect(textOf(result)).toMatch(
      /\[Truncated: showing 1000 of 5000 characters\. Call again with a larger max_chars to read more\.\]$/,
    );
  });

  it.each([
    [{ url: "ftp://example.com/file" }, /url must be an absolute http:\/\/ or https:\/\/ URL/],
    [{ url: "file:///etc/passwd" }, /url must be an absolute http:\/\/ or https:\/\/ URL/],
    [{ url: "javascript:alert(1)" }, /url must be an absolute http:\/\/ or https:\/\/ URL/],
    [{ url: "/relative/path" }, /url must be an absolute http:\/\/ or https:\/\/ URL/],
    [{ url: "" }, /url must be an absolute http:\/\/ or https:\/\/ URL/],
    [{}, /url/],
    [
      { url: "https://a.example", max_chars: 10 },
      /max_chars must be an integer from 500 to 200000/,
    ],
  ])("refuses %j without calling upstream", async (args, message) => {
    const result = await t.mcp.call("web_fetch", args);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(message);
    expect(t.fake.requests).toHaveLength(0);
  });

  it("maps upstream failures", async () => {
    t.fake.inject("web_fetch", { status: 400, body: { error: "could not fetch url" } });
    const result = await t.mcp.call("web_fetch", { url: "https://unreachable.example" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/refused the request \(400 Bad Request\): could not fetch url/);
  });
});

describe("list_models", () => {
  it("lists the cloud's models from /api/tags with their details", async () => {
    const fresh = await connect(t.fake);
    try {
      const result = await fresh.call("list_models", {});
      expect(result.isError).toBeFalsy();
      const { models } = result.structuredContent as { models: { name: string }[] };
      expect(models.map((m) => m.name)).toEqual(t.fake.models);
      expect(models[0]).toEqual({
        name: "gpt-oss:120b",
        where: "cloud",
        capabilities: ["tools", "thinking"],
        family: "gpt-oss",
        parameter_size: "120b",
        size_bytes: 1_000_000_000,
        modified_at: "2026-01-01T00:00:00.000Z",
      });
      expect(textOf(result)).toMatch(
        /^5 models:\n- gpt-oss:120b \[cloud\] \(gpt-oss, 120b\): tools, thinking\n/,
      );
      // Which models take images: Ollama's /api/show says, asked once per model and kept.
      expect(textOf(result)).toMatch(/^- qwen3-vl:235b \[cloud\] .*: vision, tools, thinking$/m);
      expect(t.fake.requestsTo("/api/show")).toHaveLength(5);
      await fresh.call("list_models", {});
      expect(t.fake.requestsTo("/api/show")).toHaveLength(5);
      expect(t.fake.requestsTo("/api/tags")[0]?.headers.authorization).toBe("Bearer fake-key-7f3a");
    } finally {
      await fresh.close();
    }
  });

  it("caches the list briefly, and cloud_chat's unknown-model error uses it", async () => {
    const fresh = await connect(t.fake);
    try {
      t.fake.models = ["new-model:1t", "gpt-oss:120b"];
      await fresh.call("list_models", {});
      const result = await fresh.call("cloud_chat", { prompt: "x", model: "retired-model:cloud" });
      expect(textOf(result)).toMatch(
        /"retired-model" is not available.*include: new-model:1t, gpt-oss:120b\./,
      );
      expect(t.fake.requestsTo("/api/tags")).toHaveLength(1);
    } finally {
      await fresh.close();
    }
  });

  it("refuses arguments it does not take", async () => {
    const result = await t.mcp.call("list_models", { filter: "gpt" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/list_models does not take "filter"/);
  });

  it("maps upstream failures", async () => {
    const fresh = await connect(t.fake);
    try {
      t.fake.inject("tags", { status: 401, body: { error: "unauthorized" } });
      expect(textOf(await fresh.call("list_models", {}))).toMatch(/rejected the API key \(401/);
    } finally {
      await fresh.close();
    }
  });
});
