import type { Progress } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import type { ChatRequestBody } from "./fake-ollama-cloud.js";
import { textOf, until, useServers } from "./harness.js";

const t = useServers();

async function server(env: Record<string, string> = {}) {
  const mcp = await t.server(env);
  await mcp.client.listTools();
  return mcp;
}

interface Structured {
  answers: { model: string; answer?: string; error?: string; usage?: { output_tokens: number } }[];
  synthesis?: string;
  synthesizer: string;
  usage: { model_calls: number };
  route?: { ran_on: string };
  warnings?: string[];
}

const isSynthesis = (request: ChatRequestBody) =>
  request.messages[0]?.content.startsWith("Several models answered the same request");
/** Each model answers in its own words; the synthesizer lists the answers it was given. */
function panel(request: ChatRequestBody) {
  if (isSynthesis(request)) {
    const seen = [
      ...(request.messages[1]?.content ?? "").matchAll(
        /<answer model="([^"]+)"( failed="true")?>/g,
      ),
    ];
    return {
      content: `Compared ${seen.map((m) => `${m[1]}${m[2] ? " (failed)" : ""}`).join(", ")}.`,
    };
  }
  return { content: `${request.model} thinks 42.` };
}
const MODELS = ["gpt-oss:120b", "qwen3-vl:235b", "glm-4.6:cloud"];

describe("consensus", () => {
  it("asks every model at once, then has the synthesizer compare their answers", async () => {
    const mcp = await server();
    t.fake.chatResponder = panel;
    t.fake.holdUntilConcurrent("chat", 3);
    const progress: Progress[] = [];
    const result = await mcp.client.callTool(
      {
        name: "consensus",
        arguments: { prompt: "What is the answer?", models: MODELS, synthesizer: "gpt-oss:20b" },
      },
      { onprogress: (p) => progress.push(p) },
    );
    expect(result.isError).toBeFalsy();
    expect(t.fake.maxConcurrent.chat).toBe(3);
    const structured = result.structuredContent as unknown as Structured;
    expect(structured.answers.map((a) => [a.model, a.answer])).toEqual([
      ["gpt-oss:120b", "gpt-oss:120b thinks 42."],
      ["qwen3-vl:235b", "qwen3-vl:235b thinks 42."],
      ["glm-4.6", "glm-4.6 thinks 42."],
    ]);
    expect(structured.answers.every((a) => (a.usage?.output_tokens ?? 0) > 0)).toBe(true);
    expect(structured).toMatchObject({
      synthesis: "Compared gpt-oss:120b, qwen3-vl:235b, glm-4.6.",
      synthesizer: "gpt-oss:20b",
      usage: { model_calls: 4 },
      route: { ran_on: "cloud" },
      status: "done",
    });
    const synthesisRequest = t.fake
      .requestsTo("/api/chat")
      .map((r) => r.body as ChatRequestBody)
      .find(isSynthesis);
    expect(synthesisRequest?.model).toBe("gpt-oss:20b");
    expect(synthesisRequest?.messages[0]?.content).toMatch(
      /Where they agree.*Where they differ.*Which to trust/s,
    );
    expect(synthesisRequest?.messages[1]?.content).toMatch(
      /^The request:\n\nuser: What is the answer\?/,
    );
    expect(textOf(result as never)).toMatch(
      /^## Synthesis \(gpt-oss:20b\)\n\nCompared .*## Answers\n\n### gpt-oss:120b\n\ngpt-oss:120b thinks 42\./s,
    );
    expect(progress.map((p) => p.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/answered \(3 of 3\)$/), "done"]),
    );
  });

  it("keeps going when one model fails, and says which", async () => {
    const mcp = await server();
    t.fake.chatResponder = panel;
    t.fake.inject("chat", { status: 503, body: { error: "overloaded" } }, 1, {
      model: "qwen3-vl:235b",
    });
    const result = await mcp.call("consensus", { prompt: "Q?", models: MODELS });
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as unknown as Structured;
    expect(structured.answers[1]).toMatchObject({
      model: "qwen3-vl:235b",
      error: expect.stringMatching(/server error \(503/),
    });
    expect(structured.synthesis).toBe("Compared gpt-oss:120b, qwen3-vl:235b (failed), glm-4.6.");
    expect(structured.usage.model_calls).toBe(3);
  });

  it("fails only when every model fails", async () => {
    const mcp = await server();
    for (const model of ["gpt-oss:120b", "qwen3-vl:235b"]) {
      t.fake.inject("chat", { status: 500, body: { error: `${model} down` } }, 1, { model });
    }
    const result = await mcp.call("consensus", {
      prompt: "Q?",
      models: ["gpt-oss:120b", "qwen3-vl:235b"],
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /^Every model failed: gpt-oss:120b: .*gpt-oss:120b down.* \| qwen3-vl:235b: .*qwen3-vl:235b down/,
    );
  });

  it("still answers when only the synthesis fails, with a warning", async () => {
    const mcp = await server();
    t.fake.chatResponder = panel;
    t.fake.inject("chat", { status: 500, body: { error: "synth down" } }, 1, {
      model: "deepseek-v3.2",
    });
    const result = await mcp.call("consensus", {
      prompt: "Q?",
      models: MODELS.slice(0, 2),
      synthesizer: "deepseek-v3.2",
    });
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as unknown as Structured;
    expect(structured.synthesis).toBeUndefined();
    expect(structured.warnings?.[0]).toMatch(/^the synthesis could not be written: .*synth down/);
  });

  it("stops every model's request when cancelled", async () => {
    const mcp = await server();
    t.fake.inject("chat", { hang: true }, 3);
    const controller = new AbortController();
    const call = mcp.client.callTool(
      { name: "consensus", arguments: { prompt: "Q?", models: MODELS } },
      {
        signal: controller.signal,
      },
    );
    await until(() => t.fake.requestsTo("/api/chat").length >= 3);
    controller.abort();
    await expect(call).rejects.toThrow();
    await Promise.all(t.fake.requestsTo("/api/chat").map((r) => r.closed));
  });

  it("never has more model requests open than the upstream cap", async () => {
    const mcp = await server({ OLLAMA_UPSTREAM_CONCURRENCY: "2" });
    t.fake.chatResponder = panel;
    // Held until a third request is open, which the cap must prevent: then let go after 1 s.
    t.fake.holdUntilConcurrent("chat", 3, 1_000);
    const five = ["gpt-oss:120b", "gpt-oss:20b", "qwen3-vl:235b", "deepseek-v3.2", "glm-4.6"];
    const result = await mcp.call("consensus", { prompt: "Q?", models: five });
    expect(result.isError).toBeFalsy();
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(6);
    expect(t.fake.maxConcurrent.chat).toBe(2);
  });

  it("asks OLLAMA_CONSENSUS_MODELS, or else the default model and two of other families from the list", async () => {
    const configured = await server({ OLLAMA_CONSENSUS_MODELS: "gpt-oss:20b, glm-4.6" });
    t.fake.chatResponder = panel;
    const a = await configured.call("consensus", { prompt: "Q?" });
    expect((a.structuredContent as unknown as Structured).answers.map((x) => x.model)).toEqual([
      "gpt-oss:20b",
      "glm-4.6",
    ]);
    const discovered = await server();
    const b = await discovered.call("consensus", { prompt: "Q?" });
    expect((b.structuredContent as unknown as Structured).answers.map((x) => x.model)).toEqual([
      "gpt-oss:120b",
      "qwen3-vl:235b",
      "deepseek-v3.2",
    ]);
  });

  it.each([
    [{ prompt: "Q?", models: ["gpt-oss:120b"] }, /models must name 2 to 5 models/],
    [{ prompt: "Q?", models: ["a", "b", "c", "d", "e", "f"] }, /models must name 2 to 5 models/],
    [
      { prompt: "Q?", models: ["gpt-oss:120b", "gpt-oss:120b-cloud"] },
      /models must be different models/,
    ],
    [{ prompt: "Q?", models: ["gpt-oss:120b", "qwen3:8b:local"] }, /cloud mode/],
    [{ models: ["gpt-oss:120b", "glm-4.6"] }, /exactly one of prompt/],
  ])("refuses %j before anything is sent", async (args, message) => {
    const mcp = await server();
    const result = await mcp.call("consensus", args);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(message);
    expect(t.fake.requests).toHaveLength(0);
  });
});
