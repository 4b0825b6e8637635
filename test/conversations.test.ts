import { describe, expect, it } from "vitest";
import { MemoryStore } from "../src/store/memory-store.js";
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

  it("refuses a conversation_id this server could not have handed out, before anything is sent", async () => {
    const mcp = await server();
    for (const conversation_id of ["conv_x", "ocm:job:x", "conv_AAAAAAAAAAAAAAAAAAAAAAAA:seen"]) {
      const result = await mcp.call("cloud_chat", { prompt: "x", conversation_id });
      expect(textOf(result)).toMatch(
        /conversation_id must be one this server returned: "conv_" and 24 letters, digits, "-" or "_"/,
      );
    }
    expect(t.fake.requests).toHaveLength(0);
  });
});

/** A memory store that notes the size of every conversation record written to it. */
class MeasuredStore extends MemoryStore {
  largest = 0;
  recordWrites = 0;
  override async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (key.startsWith("ocm:conv:")) {
      this.recordWrites++;
      const turns = JSON.parse(value) as { system?: string; turns: { content: string }[] };
      const chars =
        (turns.system?.length ?? 0) + turns.turns.reduce((n, turn) => n + turn.content.length, 0);
      this.largest = Math.max(this.largest, chars);
    }
    return super.set(key, value, ttlMs);
  }
}

describe("cloud_chat conversations are bounded", () => {
  it("keeps every record within OLLAMA_MCP_CONVERSATION_MAX_CHARS; an exchange too large is answered, not kept, and says so", async () => {
    const store = new MeasuredStore(new ManualClock());
    const mcp = await server(
      { OLLAMA_MCP_CONVERSATION_MAX_CHARS: "1000" },
      { conversationStore: store },
    );
    t.fake.chatResponder = () => ({ content: "short answer" });
    const huge = "y".repeat(3_000);
    const once = await mcp.call("cloud_chat", { prompt: huge });
    expect(once.isError).toBeFalsy();
    expect(once.structuredContent).toMatchObject({ status: "done", answer: "short answer" });
    expect(once.structuredContent).not.toHaveProperty("conversation_id");
    expect(textOf(once)).toMatch(
      /Warning: this exchange is 3012 characters, more than a conversation may keep \(1000, OLLAMA_MCP_CONVERSATION_MAX_CHARS\), so it was not kept and the conversation cannot continue from this answer\. To go on/,
    );
    expect(textOf(once)).not.toMatch(/conversation_id:/);
    expect(store.recordWrites).toBe(0);

    // In a conversation that exists, it stays as it was, and the result says so.
    const id = idOf(await mcp.call("cloud_chat", { prompt: "small", system: "Be brief." }));
    const big = await mcp.call("cloud_chat", { prompt: huge, conversation_id: id });
    expect(big.structuredContent).not.toHaveProperty("conversation_id");
    expect(textOf(big)).toContain(
      `conversation_id ${id} still holds the conversation as it was before this exchange.`,
    );
    const after = await mcp.call("cloud_chat", { prompt: "and now?", conversation_id: id });
    expect(sent().at(-1)).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "small" },
      { role: "assistant", content: "short answer" },
      { role: "user", content: "and now?" },
    ]);
    expect(idOf(after)).toBe(id);
    // A system message counts too: one that leaves no room means nothing can be kept.
    const framed = await mcp.call("cloud_chat", { prompt: "hi", system: "s".repeat(995) });
    expect(framed.structuredContent).not.toHaveProperty("conversation_id");
    expect(store.largest).toBeLessThanOrEqual(1000);
  });

  it("forgets a caller's least recently used conversation past OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER", async () => {
    const clock = new ManualClock();
    const mcp = await server({ OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER: "3" }, { clock });
    const start = async (prompt: string) => {
      clock.advance(1_000);
      return idOf(await mcp.call("cloud_chat", { prompt }));
    };
    const [a, b, c] = [await start("a"), await start("b"), await start("c")];
    clock.advance(1_000);
    await mcp.call("cloud_chat", { prompt: "a again", conversation_id: a });
    await start("d");
    const continued = async (id: string) =>
      (await mcp.call("cloud_chat", { prompt: "still there?", conversation_id: id })).isError !==
      true;
    expect(await continued(b)).toBe(false);
    expect(await continued(a)).toBe(true);
    expect(await continued(c)).toBe(true);
    expect(textOf(await mcp.call("cloud_chat", { prompt: "x", conversation_id: b }))).toMatch(
      /each client keeps its 3 most recently used \(OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER\)/,
    );
  });

  it("forgets the least recently used of all callers past OLLAMA_MCP_MAX_CONVERSATIONS", async () => {
    const clock = new ManualClock();
    const env = { OLLAMA_MCP_MAX_CONVERSATIONS: "3" };
    const alice = await server(env, {
      clock,
      authInfo: { token: "", clientId: "alice", scopes: [] },
    });
    const bob = await server(env, {
      clock,
      conversations: alice.conversations,
      authInfo: { token: "", clientId: "bob", scopes: [] },
    });
    const start = async (mcp: typeof alice, prompt: string) => {
      clock.advance(1_000);
      return idOf(await mcp.call("cloud_chat", { prompt }));
    };
    const oldest = await start(alice, "a1");
    const kept = [await start(bob, "b1"), await start(alice, "a2"), await start(bob, "b2")];
    expect((await alice.call("cloud_chat", { prompt: "x", conversation_id: oldest })).isError).toBe(
      true,
    );
    for (const [i, id] of kept.entries()) {
      const who = i % 2 === 0 ? bob : alice;
      expect(
        (await who.call("cloud_chat", { prompt: "x", conversation_id: id })).isError,
      ).toBeFalsy();
    }
  });

  it("keeps nothing and hands out no conversation_id with OLLAMA_MCP_CONVERSATIONS=off", async () => {
    const store = new MeasuredStore(new ManualClock());
    const mcp = await server({ OLLAMA_MCP_CONVERSATIONS: "off" }, { conversationStore: store });
    const result = await mcp.call("cloud_chat", { prompt: "one-shot" });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).not.toHaveProperty("conversation_id");
    expect(textOf(result)).not.toMatch(/conversation_id/);
    const refused = await mcp.call("cloud_chat", {
      prompt: "x",
      conversation_id: "conv_AAAAAAAAAAAAAAAAAAAAAAAA",
    });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toBe(
      "conversation_id cannot be used: this server keeps no conversations (OLLAMA_MCP_CONVERSATIONS=off). Send the earlier turns with messages instead.",
    );
    expect(store.recordWrites).toBe(0);
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(1);
  });
});
