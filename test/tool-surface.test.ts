import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeOllamaCloud } from "./fake-ollama-cloud.js";
import { type Connected, connect, expectToolSnapshots, TOOL_NAMES } from "./harness.js";

let fake: FakeOllamaCloud;
let mcp: Connected;

beforeAll(async () => {
  fake = await FakeOllamaCloud.start();
  mcp = await connect(fake);
});
afterAll(async () => {
  await mcp.close();
  await fake.close();
});

describe("the tools/list surface", () => {
  it("matches each tool's reviewed snapshot", async () => {
    await expectToolSnapshots((await mcp.client.listTools()).tools);
  });

  it("gives every tool a title, a description, annotations and an output schema", async () => {
    const { tools } = await mcp.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOL_NAMES);
    for (const tool of tools) {
      expect(tool.title, tool.name).toBeTruthy();
      expect(tool.description?.length, tool.name).toBeGreaterThan(80);
      // Every hint is stated, never left to a client's default.
      for (const hint of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"]) {
        expect(
          typeof tool.annotations?.[hint as keyof typeof tool.annotations],
          `${tool.name} ${hint}`,
        ).toBe("boolean");
      }
      expect(tool.outputSchema?.type, tool.name).toBe("object");
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const name of [
      "cloud_chat",
      "web_search",
      "search_and_summarize",
      "web_fetch",
      "list_models",
      "research",
      "consensus",
    ]) {
      expect(byName.get(name)?.annotations, name).toMatchObject({
        readOnlyHint: true,
        openWorldHint: true,
      });
    }
    expect(byName.get("cancel_job")?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
    });
  });

  it("gives every schema node a validation keyword and one type, as the Inspector's --strict mode wants", async () => {
    const { tools } = await mcp.client.listTools();
    const KEYWORDS = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "not"];
    const bare: string[] = [];
    const typeArrays: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (node === null || typeof node !== "object") return;
      const schema = node as Record<string, unknown>;
      if (!KEYWORDS.some((k) => k in schema)) bare.push(path);
      // Legal, but clients that map schemas onto one `type` per node (Gemini) reject it.
      if (Array.isArray(schema.type)) typeArrays.push(path);
      for (const [name, child] of Object.entries((schema.properties as object) ?? {})) {
        walk(child, `${path}.${name}`);
      }
      if (typeof schema.additionalProperties === "object")
        walk(schema.additionalProperties, `${path}[*]`);
      if (typeof schema.items === "object") walk(schema.items, `${path}[]`);
      for (const key of ["anyOf", "oneOf", "allOf"]) {
        for (const [i, child] of ((schema[key] as unknown[]) ?? []).entries())
          walk(child, `${path}|${i}`);
      }
    };
    for (const tool of tools) {
      walk(tool.inputSchema, `${tool.name} input`);
      walk(tool.outputSchema, `${tool.name} output`);
    }
    expect(bare).toEqual([]);
    expect(typeArrays).toEqual([]);
  });

  it("names no model Ollama has retired, anywhere in the tools' descriptions", async () => {
    const { tools } = await mcp.client.listTools();
    const surface = JSON.stringify(tools);
    for (const retired of ["deepseek-v3.1", "qwen3-coder", "kimi-k2.5"]) {
      expect(surface).not.toContain(retired);
    }
  });

  it("lets both shapes of a long tool's result validate: running and done", async () => {
    const { tools } = await mcp.client.listTools();
    for (const name of ["cloud_chat", "search_and_summarize", "research", "consensus"]) {
      const schema = tools.find((t) => t.name === name)?.outputSchema as {
        required?: string[];
        properties: Record<string, unknown>;
      };
      expect(schema.required, name).toEqual(["status"]);
      expect(Object.keys(schema.properties), name).toEqual(
        expect.arrayContaining(["status", "job_id", "progress"]),
      );
    }
  });
});

describe("a server offering some tools", () => {
  it("lists only those, and refuses a call to any other", async () => {
    const some = await connect(fake, { OLLAMA_MCP_TOOLS: "web_search,list_models" });
    try {
      expect((await some.client.listTools()).tools.map((t) => t.name)).toEqual([
        "web_search",
        "list_models",
      ]);
      // An unknown tool is a protocol error (-32602), in both eras.
      await expect(some.call("cloud_chat", { prompt: "x" })).rejects.toThrow(
        /cloud_chat not found/,
      );
      expect(fake.requests).toHaveLength(0);
    } finally {
      await some.close();
    }
  });

  it("says in each long tool's description that it may return a job_id, and in get_result's the configured times", async () => {
    const configured = await connect(fake, {
      OLLAMA_MCP_DEFER_AFTER_MS: "300",
      OLLAMA_MCP_JOB_TTL_MS: "120000",
    });
    try {
      const { tools } = await configured.client.listTools();
      const description = (name: string) => tools.find((t) => t.name === name)?.description ?? "";
      for (const name of ["cloud_chat", "search_and_summarize", "research", "consensus"]) {
        expect(description(name), name).toMatch(
          /If it is still working after 300 ms, it returns status "running" with a job_id instead and goes on: call get_result with that job_id for the answer\.$/,
        );
      }
      expect(description("web_search")).not.toMatch(/job_id/);
      expect(description("get_result")).toMatch(
        /Waits up to wait_ms \(at most 300 ms, the default\).*Results are kept for 2 min/,
      );
      expect(configured.client.getInstructions()).toMatch(
        /returns status "running" with a job_id and goes on: get_result with that job_id returns its answer/,
      );
    } finally {
      await configured.close();
    }
    const never = await connect(fake, {
      OLLAMA_MCP_DEFER_AFTER_MS: "0",
      OLLAMA_MCP_TOOLS: "cloud_chat",
    });
    try {
      const { tools } = await never.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(["cloud_chat"]);
      expect(tools[0]?.description).not.toMatch(/job_id/);
      expect(never.client.getInstructions()).not.toMatch(/get_result|web_search|research/);
    } finally {
      await never.close();
    }
  });
});
