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
      expect(tool.annotations, tool.name).toMatchObject({
        readOnlyHint: true,
        openWorldHint: true,
      });
      expect(tool.outputSchema?.type, tool.name).toBe("object");
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
    }
  });
});
