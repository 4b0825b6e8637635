import { describe, expect, it } from "vitest";
import type { ChatRequestBody } from "./fake-ollama-cloud.js";
import { textOf, useServers } from "./harness.js";
import { ManualClock } from "./manual-clock.js";

const t = useServers();

const server = t.server;

const sent = () =>
  t.fake
    .requestsTo("/api/chat")
    .map((r) =>
      (r.body as ChatRequestBody).messages.map(({ role, content }) => ({ role, content })),
    );
const idOf = (result: { structuredContent?: unknown }) =>
  (result.structuredContent as { conversation_id: string }).conversation_id;

describe("cloud_chat conversations", () => {
  it("continues a conversation by id across calls, sending the earlier turns, with any model", async () => {
    const mcp = await server();
    const first = await mcp.call("cloud_chat", { prompt: "A", system: "Be brief." });
    const id = idOf(first);
    expect(id).toMatch(/^conv_[\w-]{24}$/);
    expect(textOf(first)).toContain(`conversation_id: ${id} (pass it back to continue)`);
    const second = await mcp.call("cloud_chat", {
      prompt: "B",
      conversation_id: id,
      model: "gpt-oss:20b",
    });
    expect(idOf(second)).toBe(id);
    await mcp.call("cloud_chat", {
      conversation_id: id,
      messages: [{ role: "user", content: "C" }],
    });
    expect(sent()).toEqual([
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "A" },
      ],
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "A" },
        { role: "assistant", content: "echo: A" },
        { role: "user", content: "B" },
      ],
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "A" },
        { role: "assistant", content: "echo: A" },
        { role: "user", content: "B" },
        { role: "assistant", content: "echo: B" },
        { role: "user", content: "C" },
      ],
    ]);
    expect((t.fake.requestsTo("/api/chat")[1]?.body as ChatRequestBody | undefined)?.model).toBe(
      "gpt-oss:20b",
    );
  });

  it("drops the oldest turns past its size limit, and says so", async () => {
    const mcp = await server({ OLLAMA_MCP_CONVERSATION_MAX_CHARS: "1000" });
    const long = (tag: string) => `${tag} ${"x".repeat(200)}`;
    const id = idOf(await mcp.call("cloud_chat", { prompt: long("one") }));
    const second = await mcp.call("cloud_chat", { prompt: long("two"), conversation_id: id });
    expect(second.structuredContent).not.toHaveProperty("dropped_turns");
    const third = await mcp.call("cloud_chat", { prompt: long("three"), conversation_id: id });
    expect(third.structuredContent).toMatchObject({ dropped_turns: 2 });
    expect(textOf(third)).toMatch(
      /Warning: the conversation's oldest 2 messages were dropped to keep it within 1000 characters/,
    );
    const fourth = await mcp.call("cloud_chat", { prompt: "four", conversation_id: id });
    expect(fourth.isError).toBeFalsy();
    const history = sent().at(-1) ?? [];
    expect(history[0]).toMatchObject({ role: "user" });
    expect(history[0]?.content).toMatch(/^two /);
  });

  it("forgets a conversation after its idle time, and says to start a new one", async () => {
    const clock = new ManualClock();
    const mcp = await server({ OLLAMA_MCP_CONVERSATION_IDLE_MS: "60000" }, { clock });
    const id = idOf(await mcp.call("cloud_chat", { prompt: "remember me" }));
    clock.advance(59_000);
    expect(
      (await mcp.call("cloud_chat", { prompt: "still?", conversation_id: id })).isError,
    ).toBeFalsy();
    clock.advance(60_000);
    const gone = await mcp.call("cloud_chat", { prompt: "and now?", conversation_id: id });
    expect(gone.isError).toBe(true);
    expect(textOf(gone)).toMatch(
      new RegExp(
        `^Unknown conversation_id "${id}": a conversation is kept 1 min after its last turn .*Start a new conversation`,
      ),
    );
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(2);
  });

  it("keeps a conversation to the client that started it", async () => {
    const alice = await server({}, { authInfo: { token: "", clientId: "alice", scopes: [] } });
    const bob = await server(
      {},
      { authInfo: { token: "", clientId: "bob", scopes: [] }, conversations: alice.conversations },
    );
    const id = idOf(await alice.call("cloud_chat", { prompt: "alice's secret" }));
    const stolen = await bob.call("cloud_chat", {
      prompt: "what did she say?",
      conversation_id: id,
    });
    expect(textOf(stolen)).toMatch(/^Unknown conversation_id/);
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(1);
  });

  it("lets a new system message replace the stored one, and takes one from messages", async () => {
    const mcp = await server();
    const id = idOf(
      await mcp.call("cloud_chat", {
        messages: [
          { role: "system", content: "First rules." },
          { role: "user", content: "hi" },
        ],
      }),
    );
    await mcp.call("cloud_chat", { prompt: "again", system: "New rules.", conversation_id: id });
    await mcp.call("cloud_chat", { prompt: "and again", conversation_id: id });
    expect(sent().map((m) => m[0])).toEqual([
      { role: "system", content: "First rules." },
      { role: "system", content: "New rules." },
      { role: "system", content: "New rules." },
    ]);
  });

  it("refuses a malformed conversation_id before anything is sent", async () => {
    const mcp = await server();
    const result = await mcp.call("cloud_chat", { prompt: "x", conversation_id: "" });
    expect(textOf(result)).toMatch(/conversation_id must not be empty/);
    expect(t.fake.requests).toHaveLength(0);
  });
});
