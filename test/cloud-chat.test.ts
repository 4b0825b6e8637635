import { describe, expect, it, vi } from "vitest";
import { type ChatRequestBody, FakeOllamaCloud } from "./fake-ollama-cloud.js";
import { connect, textOf, useFakeCloud } from "./harness.js";

const t = useFakeCloud();

const chatBodies = () => t.fake.requestsTo("/api/chat").map((r) => r.body as ChatRequestBody);

describe("cloud_chat", () => {
  it("answers a prompt, streaming from /api/chat with the bearer key", async () => {
    const result = await t.mcp.call("cloud_chat", { prompt: "Say hello in three languages." });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({
      model: "gpt-oss:120b",
      answer: "echo: Say hello in three languages.",
      usage: {
        prompt_tokens: 8,
        output_tokens: 5,
        total_ms: 1234.57,
        load_ms: 12.35,
        prompt_ms: 23.46,
        generation_ms: 987.65,
        done_reason: "stop",
      },
      route: { ran_on: "cloud", via: "direct" },
      conversation_id: expect.stringMatching(/^conv_/),
      status: "done",
    });
    expect(textOf(result)).toContain("echo: Say hello in three languages.");
    const [request] = t.fake.requestsTo("/api/chat");
    expect(request?.headers.authorization).toBe("Bearer fake-key-7f3a");
    expect(request?.body).toMatchObject({
      model: "gpt-oss:120b",
      stream: true,
      messages: [{ role: "user", content: "Say hello in three languages." }],
    });
  });

  it("puts system before the prompt and passes a whole conversation through", async () => {
    await t.mcp.call("cloud_chat", { prompt: "Hi", system: "Be brief." });
    const messages = [
      { role: "user", content: "What is 2+2?" },
      { role: "assistant", content: "4" },
      { role: "tool", content: "{}", tool_name: "calc" },
      { role: "user", content: "And times 3?" },
    ];
    const result = await t.mcp.call("cloud_chat", { messages });
    expect(result.structuredContent).toMatchObject({ answer: "echo: And times 3?" });
    expect(chatBodies().map((b) => b.messages)).toEqual([
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ],
      messages,
    ]);
  });

  it.each([
    ["gpt-oss:120b-cloud", "gpt-oss:120b"],
    ["gpt-oss:20b:cloud", "gpt-oss:20b"],
    ["glm-4.6:cloud", "glm-4.6"],
    ["  qwen3-vl:235b  ", "qwen3-vl:235b"],
  ])("sends %j upstream as %j", async (model, sent) => {
    const result = await t.mcp.call("cloud_chat", { prompt: "x", model });
    expect(result.isError).toBeFalsy();
    expect(chatBodies()[0]?.model).toBe(sent);
  });

  it("returns thinking when asked, and passes think and options through", async () => {
    const result = await t.mcp.call("cloud_chat", {
      prompt: "Why is the sky blue?",
      think: "high",
      options: { temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, num_predict: 64, stop: ["END"] },
    });
    expect(result.structuredContent).toMatchObject({ thinking: "thinking about it" });
    expect(textOf(result)).toMatch(/Thinking:\nthinking about it/);
    expect(chatBodies()[0]).toMatchObject({
      think: "high",
      options: { temperature: 0.2, top_p: 0.9, top_k: 40, seed: 7, num_predict: 64, stop: ["END"] },
    });
  });

  it("asks for JSON in words (the cloud ignores format) and parses the answer", async () => {
    t.fake.chatResponder = () => ({ content: '```json\n{"city":"Paris"}\n```' });
    const schema = { type: "object", properties: { city: { type: "string" } } };
    const result = await t.mcp.call("cloud_chat", { prompt: "Capital of France?", format: schema });
    expect(result.structuredContent).toMatchObject({ json: { city: "Paris" } });
    const body = chatBodies()[0];
    expect(body?.format).toEqual(schema);
    expect(body?.messages[0]).toMatchObject({ role: "system" });
    expect(body?.messages[0]?.content).toContain(JSON.stringify(schema));

    t.fake.chatResponder = () => ({ content: "Paris, of course" });
    const prose = await t.mcp.call("cloud_chat", { prompt: "Capital?", format: "json" });
    expect(prose.isError).toBeFalsy();
    expect(prose.structuredContent).toMatchObject({
      warnings: ["format: the model's answer is not valid JSON."],
    });
  });

  it("warns that the cloud ignores num_ctx", async () => {
    const result = await t.mcp.call("cloud_chat", { prompt: "x", options: { num_ctx: 8192 } });
    expect((result.structuredContent as { warnings: string[] }).warnings[0]).toMatch(
      /num_ctx is ignored/,
    );
  });

  describe("refuses bad input before anything is sent", () => {
    it.each([
      [{}, /exactly one of prompt .* or messages/],
      [{ prompt: "a", messages: [{ role: "user", content: "b" }] }, /exactly one of prompt/],
      [{ prompt: "" }, /prompt must not be empty/],
      [{ messages: [] }, /messages must hold at least one message/],
      [
        { messages: [{ role: "robot", content: "x" }] },
        /role must be "system", "user", "assistant" or "tool"/,
      ],
      [
        { prompt: "x", model: "gpt-oss:20b:local:cloud" },
        /use either ":local" or ":cloud", not both/,
      ],
      [{ prompt: "x", model: "gpt-oss:20b:local" }, /local Ollama/],
      [{ prompt: "x", model: "not a model" }, /is not a model name/],
      [
        { prompt: "x", think: "maximum" },
        /think must be true, false, "low", "medium", "high" or "max"/,
      ],
      [{ prompt: "x", format: "xml" }, /format must be "json" or a JSON schema object/],
      [
        { prompt: "x", options: { temprature: 1 } },
        /options does not take "temprature"; it takes: temperature/,
      ],
      [{ prompt: "x", options: { temperature: 5 } }, /temperature/],
      [
        { prompt: "x", max_tokens: 5 },
        /cloud_chat does not take "max_tokens"; it takes: prompt, system/,
      ],
    ])("%j", async (args, message) => {
      const result = await t.mcp.call("cloud_chat", args);
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(message);
      expect(t.fake.requests).toHaveLength(0);
    });
  });

  describe("turns upstream failures into results that say what to do", () => {
    it("a rejected key (401/403)", async () => {
      t.fake.inject("chat", { status: 401, body: { error: "unauthorized" } });
      const result = await t.mcp.call("cloud_chat", { prompt: "x" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(
        /rejected the API key \(401: unauthorized\).*ollama.com\/settings\/keys/,
      );

      t.fake.inject("chat", { status: 403, body: { error: "forbidden" } });
      expect(textOf(await t.mcp.call("cloud_chat", { prompt: "x" }))).toMatch(
        /rejected the API key \(403/,
      );
    });

    it("an unknown model names models that exist", async () => {
      const result = await t.mcp.call("cloud_chat", { prompt: "x", model: "gemma-4:31b-cloud" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe(
        'Model "gemma-4:31b" is not available on Ollama\'s cloud. Models available there now include: gpt-oss:120b, gpt-oss:20b, qwen3-vl:235b, deepseek-v3.2, glm-4.6.',
      );
    });

    it("usage limits pass the service's message through, with Retry-After", async () => {
      const message = "you've reached your hourly usage limit, please wait or upgrade to continue";
      t.fake.inject("chat", {
        status: 429,
        body: { error: message },
        headers: { "retry-after": "42" },
      });
      const result = await t.mcp.call("cloud_chat", { prompt: "x" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain(`usage limit reached (429): ${message}. Retry after 42s.`);

      t.fake.inject("chat", { status: 402, body: { error: "payment required for this model" } });
      expect(textOf(await t.mcp.call("cloud_chat", { prompt: "x" }))).toContain(
        "(402): payment required for this model.",
      );
    });

    it("server errors, with or without JSON", async () => {
      t.fake.inject("chat", { status: 503, body: { error: "overloaded" } });
      expect(textOf(await t.mcp.call("cloud_chat", { prompt: "x" }))).toMatch(
        /server error \(503 Service Unavailable\): overloaded\. This is usually temporary/,
      );
      t.fake.inject("chat", {
        status: 502,
        body: "<html><h1>502 Bad Gateway</h1></html>",
        contentType: "text/html",
      });
      const html = textOf(await t.mcp.call("cloud_chat", { prompt: "x" }));
      expect(html).toMatch(/502 Bad Gateway\): the service answered with an HTML error page/);
      expect(html).not.toContain("<html>");
    });

    it("an error line inside a 200 stream", async () => {
      t.fake.inject("chat", {
        streamErrorAfter: 2,
        message: "an error was encountered while running the model",
      });
      const result = await t.mcp.call("cloud_chat", { prompt: "a long enough prompt to stream" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe(
        'The model\'s response stream failed: the service reported "an error was encountered while running the model". Try again.',
      );
    });

    it("a stream cut mid-way, and one that ends without done", async () => {
      t.fake.inject("chat", { cutAfter: 1 });
      expect(textOf(await t.mcp.call("cloud_chat", { prompt: "a long enough prompt" }))).toMatch(
        /Could not reach Ollama's cloud at 127\.0\.0\.1:\d+ \(connection lost mid-response\)/,
      );
      t.fake.inject("chat", { noDone: true });
      expect(textOf(await t.mcp.call("cloud_chat", { prompt: "x" }))).toMatch(
        /stream failed: the stream ended before the model finished/,
      );
    });

    it("a malformed body, without echoing it to the logs", async () => {
      const warn = vi.spyOn(console, "warn");
      t.fake.inject("chat", {
        malformed: "secret model output\n",
        contentType: "application/x-ndjson",
      });
      const result = await t.mcp.call("cloud_chat", { prompt: "x" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/stream failed: a line of the answer was not valid JSON/);
      expect(warn).not.toHaveBeenCalled();
      warn.mockRestore();
    });

    it("a line that is not JSON in the middle of a stream, whatever its content type", async () => {
      for (const contentType of ["application/x-ndjson", "application/json"]) {
        t.fake.inject("chat", { badLineAfter: 2, line: "{oops", contentType });
        const result = await t.mcp.call("cloud_chat", { prompt: "a prompt long enough to stream" });
        expect(result.isError, contentType).toBe(true);
        expect(textOf(result)).toMatch(/not valid JSON/);
      }
    });

    it("a connection reset", async () => {
      t.fake.inject("chat", { reset: true });
      const result = await t.mcp.call("cloud_chat", { prompt: "x" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/Could not reach Ollama's cloud at 127\.0\.0\.1:\d+/);
    });

    it("keeps serving after every failure", async () => {
      const result = await t.mcp.call("cloud_chat", { prompt: "still here?" });
      expect(result.structuredContent).toMatchObject({ answer: "echo: still here?" });
    });
  });
});

describe("cloud_chat without reachable upstream or key", () => {
  it("says to set OLLAMA_API_KEY and where to get one, sending nothing", async () => {
    const noKey = await connect(t.fake, { OLLAMA_API_KEY: undefined });
    try {
      const result = await noKey.call("cloud_chat", { prompt: "x" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(
        /OLLAMA_API_KEY is not set.*https:\/\/ollama.com\/settings\/keys/,
      );
      expect(t.fake.requests).toHaveLength(0);
    } finally {
      await noKey.close();
    }
  });

  it("reports a host that refuses connections", async () => {
    const closed = await FakeOllamaCloud.start();
    const url = closed.url;
    await closed.close();
    const offline = await connect(t.fake, { OLLAMA_CLOUD_HOST: url });
    try {
      const result = await offline.call("cloud_chat", { prompt: "x" });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(
        /Could not reach Ollama's cloud at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      );
    } finally {
      await offline.close();
    }
  });
});
