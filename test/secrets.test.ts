import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ChatRequestBody, FAKE_API_KEY, FakeOllamaCloud } from "./fake-ollama-cloud.js";
import { type Connected, connect, textOf } from "./harness.js";

const TOKEN = "mcp-http-token-5d2e91";
let fake: FakeOllamaCloud;
let mcp: Connected;

beforeAll(async () => {
  fake = await FakeOllamaCloud.start();
  mcp = await connect(fake, { OLLAMA_CLOUD_RETRIES: "0" }, { secrets: [TOKEN] });
});
afterEach(() => fake.reset());
afterAll(async () => {
  await mcp.close();
  await fake.close();
});

const everything = (result: unknown) => JSON.stringify(result);

describe("secrets never reach a result, a log line or a model", () => {
  it.each(["json", "text", "location"] as const)(
    "redacts the key an upstream echoes in an error (%s)",
    async (echoAuth) => {
      fake.inject("web_search", { echoAuth });
      const result = await mcp.call("web_search", { query: "q" });
      expect(result.isError).toBe(true);
      expect(everything(result)).not.toContain(FAKE_API_KEY);
      expect(textOf(result)).toContain("[redacted]");
    },
  );

  it("redacts the key an upstream echoes in an error line inside a stream", async () => {
    fake.inject("chat", { echoAuth: "stream" });
    const result = await mcp.call("cloud_chat", { prompt: "a prompt long enough to stream" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/stream broke for Bearer \[redacted\]/);
    expect(everything(result)).not.toContain(FAKE_API_KEY);
  });

  it("keeps an echoed key out of what research tells its model", async () => {
    fake.inject("web_search", { echoAuth: "json" });
    fake.chatResponder = (request) =>
      request.messages.some((m) => m.role === "tool")
        ? { content: "Done." }
        : {
            content: "",
            tool_calls: [{ function: { name: "web_search", arguments: { query: "q" } } }],
          };
    const result = await mcp.call("research", { question: "q" });
    expect(result.isError).toBeFalsy();
    const sentToModel = fake
      .requestsTo("/api/chat")
      .map((r) => (r.body as ChatRequestBody).messages);
    expect(JSON.stringify(sentToModel)).toContain("[redacted]");
    expect(JSON.stringify(sentToModel)).not.toContain(FAKE_API_KEY);
    expect(everything(result)).not.toContain(FAKE_API_KEY);
  });

  it("redacts the HTTP token from anything upstream sent, even a search result", async () => {
    fake.searchResponder = () => [
      { title: `t ${TOKEN}`, url: "https://x.example/", content: `Bearer ${TOKEN}` },
    ];
    const result = await mcp.call("web_search", { query: "q" });
    expect(everything(result)).not.toContain(TOKEN);
    expect(result.structuredContent).toMatchObject({ results: [{ content: "Bearer [redacted]" }] });
    expect(mcp.logLines.join("\n")).not.toContain(TOKEN);
  });
});
