import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { until, useFake } from "../harness.js";
import { assertBuilt, BIN, binEnv, INITIALIZE_REQUEST, rawSession } from "../spawn-bin.js";

beforeAll(assertBuilt);
const t = useFake();

const line = (value: unknown) => `${JSON.stringify(value)}\n`;
const CALL = (id: number, prompt: string) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "cloud_chat", arguments: { prompt } },
});

/** Runs the bin with everything written to stdin at once, then stdin closed, as a shell pipe does. */
function pipeInto(input: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN], { env: binEnv(t.fake, env) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(input);
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const messages = () =>
    stdout
      .split("\n")
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            id?: number;
            result?: unknown;
            error?: { code: number; message: string };
          },
      );
  return { child, exited, messages, stderr: () => stderr };
}

describe("the bin's stdio lifecycle", () => {
  it("answers a request piped in before stdin closed, then exits 0", async () => {
    t.fake.latency.chat = 300;
    const run = pipeInto(
      line(INITIALIZE_REQUEST) +
        line({ jsonrpc: "2.0", method: "notifications/initialized" }) +
        line(CALL(2, "piped")),
    );
    expect(await run.exited).toBe(0);
    expect(run.messages().find((m) => m.id === 2)).toMatchObject({
      result: { structuredContent: { answer: "echo: piped" } },
    });
  });

  it("on SIGTERM lets a call in flight finish and writes its reply, then exits 0", async () => {
    t.fake.latency.chat = 500;
    const child = spawn(process.execPath, [BIN], { env: binEnv(t.fake) });
    const session = rawSession(child, { record: true });
    await session.request("initialize", INITIALIZE_REQUEST.params);
    session.notify("notifications/initialized");
    const reply = session.request("tools/call", {
      name: "cloud_chat",
      arguments: { prompt: "finish me" },
    });
    await until(() => t.fake.requestsTo("/api/chat").length > 0);
    child.kill("SIGTERM");
    expect(await reply).toMatchObject({
      result: { structuredContent: { answer: "echo: finish me" } },
    });
    expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(0);
  });

  it("answers a call still running after the grace period with a shutting-down error", async () => {
    t.fake.inject("chat", { hang: true });
    const child = spawn(process.execPath, [BIN], {
      env: binEnv(t.fake, { MCP_HTTP_SHUTDOWN_GRACE_MS: "200" }),
    });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    const session = rawSession(child, { record: true });
    await session.request("initialize", INITIALIZE_REQUEST.params);
    session.notify("notifications/initialized");
    const reply = session.request("tools/call", {
      name: "cloud_chat",
      arguments: { prompt: "slow" },
    });
    await until(() => t.fake.requestsTo("/api/chat").length > 0);
    child.stdin?.end();
    expect(await reply).toMatchObject({
      error: { code: -32000, message: expect.stringMatching(/shutting down/) },
    });
    expect(await exited).toBe(0);
    // The stopped call's upstream request was closed, not left behind.
    await t.fake.requestsTo("/api/chat")[0]?.closed;
  });

  it("answers an oversized line and an invalid request, and keeps serving", async () => {
    const run = pipeInto(
      line(INITIALIZE_REQUEST) +
        line({ ...CALL(2, "x".repeat(4096)) }) +
        line({ jsonrpc: "2.0", id: 3, method: "tools/list", params: [1] }) +
        line({ jsonrpc: "2.0", id: 4, method: "tools/list", params: {} }),
      { OLLAMA_MCP_MAX_MESSAGE_BYTES: "2048" },
    );
    expect(await run.exited).toBe(0);
    const byId = new Map(run.messages().map((m) => [m.id, m]));
    expect(byId.get(2)?.error).toMatchObject({
      code: -32600,
      message: expect.stringMatching(/larger than 2048 bytes/),
    });
    expect(byId.get(3)?.error).toMatchObject({
      code: -32600,
      message: "Invalid Request: params must be an object",
    });
    expect(byId.get(4)?.result).toMatchObject({ tools: expect.any(Array) });
    expect(run.stderr()).not.toContain("xxxx");
  });

  it("stops reading stdin while the client is not reading stdout, so memory stays bounded", async () => {
    const child = spawn(process.execPath, [BIN], { env: binEnv(t.fake) });
    const rssMiB = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1]) / 1024;
    child.stdout.pause();
    const requests = 3_000;
    let input =
      line(INITIALIZE_REQUEST) + line({ jsonrpc: "2.0", method: "notifications/initialized" });
    // Long ids make the requests big enough to fill the pipe to the server.
    const pad = "x".repeat(500);
    for (let n = 2; n < requests + 2; n++) {
      input += line({ jsonrpc: "2.0", id: `${n}-${pad}`, method: "tools/list" });
    }
    child.stdin.write(input);
    // Each tools/list answer is about 25 KB: had the server read on, it would hold 75 MB of them.
    // It has stopped reading once what we wrote no longer drains: the same backlog, 300 ms on.
    const backlog: number[] = [];
    await until(
      () => {
        backlog.push(child.stdin.writableLength);
        const recent = backlog.slice(-60);
        return recent.length === 60 && recent.every((n) => n > 0 && n === recent[0]);
      },
      30_000,
      "the server to stop reading stdin",
    );
    expect(child.stdin.writableLength).toBeGreaterThan(0);
    expect(rssMiB()).toBeLessThan(150);
    let received = 0;
    let buffered = "";
    const all = new Promise<void>((resolve) => {
      child.stdout.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        received += lines.length;
        if (received === requests + 1) resolve();
      });
    });
    child.stdout.resume();
    await all;
    child.stdin.end();
    expect(await new Promise((resolve) => child.on("exit", resolve))).toBe(0);
  }, 120_000);
});
