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

  it("lets both shapes of a long tool's result validate: running and done", async () => {
    const { tools } = await mcp.client.listTools();
    for (const name of ["cloud_chat", "search_and_summarize", "research"]) {
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
