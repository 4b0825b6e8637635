import type { CallToolResult, Progress } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import type { ChatRequestBody, ChatScript } from "./fake-ollama-cloud.js";
import { type Connected, type connect, textOf, until, useServers } from "./harness.js";
import { ManualClock } from "./manual-clock.js";

const t = useServers();

const DEFER_MS = 1_000;

async function server(
  env: Record<string, string> = {},
  options: Parameters<typeof connect>[2] = {},
): Promise<{ mcp: Connected; clock: ManualClock }> {
  const clock = new ManualClock();
  const mcp = await t.server(
    { OLLAMA_MCP_DEFER_AFTER_MS: String(DEFER_MS), ...env },
    { clock, ...options },
  );
  // The SDK client checks every result against the output schema it listed: both shapes must pass.
  await mcp.client.listTools();
  return { mcp, clock };
}

interface Running {
  status: "running";
  job_id: string;
  progress: { elapsed_ms: number; message?: string };
}

const toolMessages = (request: ChatRequestBody) =>
  request.messages.filter((m) => m.role === "tool");
const researchScript = (request: ChatRequestBody): ChatScript =>
  toolMessages(request).length === 0
    ? {
        content: "",
        tool_calls: [
          { function: { name: "web_search", arguments: { query: "jobs", max_results: 2 } } },
        ],
      }
    : { content: "Long work comes back by handle [1][2]." };

/** Starts a call and lets the virtual clock pass the defer time while its model call is held. */
async function deferredCall(
  mcp: Connected,
  clock: ManualClock,
  name: string,
  args: Record<string, unknown>,
): Promise<Running> {
  const before = t.fake.requestsTo("/api/chat").length;
  const call = mcp.call(name, args);
  await until(() => t.fake.requestsTo("/api/chat").length > before);
  clock.advance(DEFER_MS);
  const result = await call;
  expect(result.isError).toBeFalsy();
  expect(textOf(result)).toMatch(/is still working .*Call get_result with job_id "job_/);
  return result.structuredContent as unknown as Running;
}

describe("long calls by handle", () => {
  it("defers a research that outlasts the defer time; get_result returns its cited answer, twice", async () => {
    t.fake.chatResponder = researchScript;
    const direct = await t.server({ OLLAMA_MCP_DEFER_AFTER_MS: "0" });
    const undeferred = (await direct.call("research", { question: "How do long calls work?" }))
      .structuredContent;
    t.fake.reset();
    t.fake.chatResponder = researchScript;
    t.fake.latency.chat = 150;

    const { mcp, clock } = await server();
    const running = await deferredCall(mcp, clock, "research", {
      question: "How do long calls work?",
    });
    expect(running).toMatchObject({
      status: "running",
      job_id: expect.stringMatching(/^job_[\w-]{24}$/),
    });
    const done = await mcp.call("get_result", { job_id: running.job_id });
    expect(done.isError).toBeFalsy();
    const structured = done.structuredContent as Record<string, unknown>;
    expect(structured).toMatchObject({
      status: "done",
      job_id: running.job_id,
      stopped_by: "answer",
    });
    expect(structured.answer).toBe((undeferred as Record<string, unknown>).answer);
    expect(structured.sources).toEqual((undeferred as Record<string, unknown>).sources);
    expect(textOf(done)).toMatch(/^Long work comes back by handle \[1\]\[2\]\.\n\nSources:/);
    const again = await mcp.call("get_result", { job_id: running.job_id, wait_ms: 0 });
    expect(again).toEqual(done);
  });

  it("answers get_result on a job still running with fresh progress after wait_ms, and streams progress meanwhile", async () => {
    const { mcp, clock } = await server();
    let round = 0;
    t.fake.chatResponder = (request) => {
      // The second model round never answers.
      if (++round === 1) t.fake.inject("chat", { hang: true });
      return researchScript(request);
    };
    t.fake.latency.chat = 100;
    const running = await deferredCall(mcp, clock, "research", { question: "q" });
    const progress: Progress[] = [];
    const waiting = mcp.client.callTool(
      { name: "get_result", arguments: { job_id: running.job_id, wait_ms: 500 } },
      { onprogress: (p) => progress.push(p) },
    );
    await until(() => progress.some((p) => /round 2/.test(p.message ?? "")));
    await clock.sleeping(500, 500);
    clock.advance(500);
    const result = (await waiting) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      status: "running",
      job_id: running.job_id,
      progress: { message: "round 2 of at most 8: asking the model", elapsed_ms: 1_500 },
    });
    // The second round's request has reached the fake (and hangs there) before the cancel, and
    // is gone after it: none of this test's requests is left to meet the next test's faults.
    await until(() => t.fake.requestsTo("/api/chat").length === 2);
    await mcp.call("cancel_job", { job_id: running.job_id });
    await t.fake.requestsTo("/api/chat")[1]?.closed;
  });

  it("cancel_job stops a running job and closes its upstream request; its get_result says cancelled", async () => {
    const { mcp, clock } = await server();
    t.fake.inject("chat", { hang: true });
    const running = await deferredCall(mcp, clock, "cloud_chat", { prompt: "never answered" });
    const cancelled = await mcp.call("cancel_job", { job_id: running.job_id });
    expect(cancelled.structuredContent).toEqual({
      job_id: running.job_id,
      was: "running",
      tool: "cloud_chat",
    });
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    const result = await mcp.call("get_result", { job_id: running.job_id });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/\(cloud_chat\) was cancelled, so it has no result/);
    expect(
      (await mcp.call("cancel_job", { job_id: running.job_id })).structuredContent,
    ).toMatchObject({
      was: "cancelled",
    });
  });

  it("says a finished job's result has expired after OLLAMA_MCP_JOB_TTL_MS, and that an unknown id is unknown", async () => {
    const { mcp, clock } = await server({ OLLAMA_MCP_JOB_TTL_MS: "60000" });
    t.fake.latency.chat = 100;
    const running = await deferredCall(mcp, clock, "cloud_chat", { prompt: "soon done" });
    expect((await mcp.call("get_result", { job_id: running.job_id })).isError).toBeFalsy();
    expect(
      (await mcp.call("cancel_job", { job_id: running.job_id })).structuredContent,
    ).toMatchObject({
      was: "finished",
    });
    clock.advance(60_000);
    const expired = await mcp.call("get_result", { job_id: running.job_id });
    expect(expired.isError).toBe(true);
    expect(textOf(expired)).toMatch(
      /has expired: results are kept for 1 min \(OLLAMA_MCP_JOB_TTL_MS\)/,
    );
    const unknown = await mcp.call("get_result", { job_id: "job_AAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(textOf(unknown)).toMatch(/^Unknown job_id "job_AAAAAAAAAAAAAAAAAAAAAAAA"/);
    expect((await mcp.call("cancel_job", { job_id: "job_x" })).isError).toBe(true);
  });

  it("checks a job_id's form before the store is asked: a key of its own bookkeeping is refused", async () => {
    const { mcp, clock } = await server({ OLLAMA_MCP_JOB_TTL_MS: "60000" });
    t.fake.latency.chat = 100;
    const running = await deferredCall(mcp, clock, "cloud_chat", { prompt: "bookkeeping" });
    await until(() => mcp.jobs.runningCount() === 0);
    for (const job_id of [
      `${running.job_id}:seen`,
      `${running.job_id}:lease`,
      "job_x",
      "conv_AAAAAAAAAAAAAAAAAAAAAAAA",
    ]) {
      for (const tool of ["get_result", "cancel_job"]) {
        const refused = await mcp.call(tool, { job_id });
        expect(refused.isError).toBe(true);
        expect(textOf(refused)).toMatch(
          /job_id must be one this server returned: "job_" and 24 letters, digits, "-" or "_"/,
        );
      }
    }
    // Its bookkeeping is as it was: once the result has expired, the job is still known as expired.
    clock.advance(60_000);
    expect(textOf(await mcp.call("get_result", { job_id: running.job_id }))).toMatch(
      /has expired: results are kept for 1 min/,
    );
  });

  it("refuses a long call past OLLAMA_MCP_MAX_JOBS, with a message", async () => {
    const { mcp, clock } = await server({ OLLAMA_MCP_MAX_JOBS: "1" });
    t.fake.inject("chat", { hang: true });
    const running = await deferredCall(mcp, clock, "cloud_chat", {
      prompt: "holds the only place",
    });
    const refused = await mcp.call("search_and_summarize", { query: "q" });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(
      /Too many long calls are running on this server \(the limit is 1, OLLAMA_MCP_MAX_JOBS\)/,
    );
    expect(t.fake.requestsTo("/api/web_search")).toHaveLength(0);
    // Quick tools are not long calls: they still run.
    expect((await mcp.call("web_search", { query: "q" })).isError).toBeFalsy();
    await mcp.call("cancel_job", { job_id: running.job_id });
    await until(() => mcp.jobs.runningCount() === 0);
  });

  it("holds each caller to OLLAMA_MCP_MAX_JOBS_PER_CALLER, so one cannot take every place", async () => {
    const env = { OLLAMA_MCP_MAX_JOBS_PER_CALLER: "1", OLLAMA_MCP_MAX_JOBS: "2" };
    const as = (clientId: string) => ({ authInfo: { token: "", clientId, scopes: [] } });
    const { mcp: alice, clock } = await server(env, as("alice"));
    const other = async (who: string) => {
      const mcp = await t.server(
        { OLLAMA_MCP_DEFER_AFTER_MS: String(DEFER_MS), ...env },
        { clock, jobs: alice.jobs, ...as(who) },
      );
      await mcp.client.listTools();
      return mcp;
    };
    const [bob, carol] = [await other("bob"), await other("carol")];
    t.fake.inject("chat", { hang: true }, 2);
    const alices = await deferredCall(alice, clock, "cloud_chat", { prompt: "alice's" });
    const again = await alice.call("research", { question: "and another?" });
    expect(again.isError).toBe(true);
    expect(textOf(again)).toBe(
      "You have too many long calls running on this server (the limit is 1 per caller, OLLAMA_MCP_MAX_JOBS_PER_CALLER). Wait for one of yours to finish (get_result) or stop one (cancel_job), then try again.",
    );
    // Bob's first long call still starts: Alice holds only her own share.
    const bobs = await deferredCall(bob, clock, "cloud_chat", { prompt: "bob's" });
    const full = await carol.call("cloud_chat", { prompt: "carol's" });
    expect(textOf(full)).toMatch(
      /^Too many long calls are running on this server \(the limit is 2, OLLAMA_MCP_MAX_JOBS\)\. Wait for one to finish .*the server's operator can raise OLLAMA_MCP_MAX_JOBS\.$/,
    );
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(2);
    await alice.call("cancel_job", { job_id: alices.job_id });
    await bob.call("cancel_job", { job_id: bobs.job_id });
    await until(() => alice.jobs.runningCount() === 0);
  });

  it("keeps a job to its owner: another caller's get_result and cancel_job find nothing", async () => {
    const { mcp, clock } = await server(
      {},
      { authInfo: { token: "", clientId: "alice", scopes: [] } },
    );
    const other = await t.server(
      { OLLAMA_MCP_DEFER_AFTER_MS: String(DEFER_MS) },
      { clock, jobs: mcp.jobs, authInfo: { token: "", clientId: "bob", scopes: [] } },
    );
    t.fake.inject("chat", { hang: true });
    const running = await deferredCall(mcp, clock, "cloud_chat", { prompt: "alice's" });
    const stolen = await other.call("get_result", { job_id: running.job_id, wait_ms: 0 });
    expect(textOf(stolen)).toMatch(/^Unknown job_id/);
    expect(textOf(await other.call("cancel_job", { job_id: running.job_id }))).toMatch(
      /^Unknown job_id/,
    );
    expect(
      (await mcp.call("cancel_job", { job_id: running.job_id })).structuredContent,
    ).toMatchObject({
      was: "running",
    });
  });

  it("refuses a wait longer than the defer time, naming the field and the range", async () => {
    const { mcp } = await server();
    const result = await mcp.call("get_result", {
      job_id: "job_AAAAAAAAAAAAAAAAAAAAAAAA",
      wait_ms: 5_000,
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /^wait_ms must be an integer from 0 to 1000 \(OLLAMA_MCP_DEFER_AFTER_MS\)/,
    );
  });

  it("still cancels the work when the original call is cancelled before it was deferred", async () => {
    const { mcp } = await server();
    t.fake.inject("chat", { hang: true });
    const controller = new AbortController();
    const call = mcp.client.callTool(
      { name: "cloud_chat", arguments: { prompt: "x" } },
      {
        signal: controller.signal,
      },
    );
    await until(() => t.fake.requestsTo("/api/chat").length > 0);
    controller.abort();
    await expect(call).rejects.toThrow();
    await t.fake.requestsTo("/api/chat")[0]?.closed;
    expect(mcp.jobs.runningCount()).toBe(0);
  });
});
