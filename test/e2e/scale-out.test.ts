import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { CallToolResult, Client } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobKeys } from "../../src/jobs/records.js";
import { type ChatRequestBody, FAKE_API_KEY } from "../fake-ollama-cloud.js";
import { textOf, until } from "../harness.js";
import { RedisServer } from "../redis-server.js";
import { BIN, binEnv, type HttpBin } from "../spawn-bin.js";
import { useHttpBins } from "./http-harness.js";

const run = promisify(execFile);
const TOKEN = "scale-out-token-4e1b9c2d";
const DEFER_MS = 400;
const LEASE_MS = 1_200;

const t = useHttpBins();
let redis: RedisServer;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.close();
});

function instance(env: Record<string, string> = {}): Promise<HttpBin> {
  return t.start(["--stateless"], {
    MCP_HTTP_TOKEN: TOKEN,
    OLLAMA_MCP_STORE: redis.url,
    OLLAMA_MCP_DEFER_AFTER_MS: String(DEFER_MS),
    OLLAMA_MCP_JOB_LEASE_MS: String(LEASE_MS),
    ...env,
  });
}

async function client(bin: HttpBin, token = TOKEN): Promise<Client> {
  const { client: mcp } = await t.client(bin.url, { authorization: `Bearer ${token}` });
  await mcp.listTools();
  return mcp;
}

const call = async (mcp: Client, name: string, args: Record<string, unknown>) =>
  (await mcp.callTool({ name, arguments: args })) as CallToolResult;

interface Running {
  status: string;
  job_id: string;
}

const research = (request: ChatRequestBody) =>
  request.messages.some((m) => m.role === "tool")
    ? { content: "Shared stores let any instance answer [1]." }
    : {
        content: "",
        tool_calls: [
          { function: { name: "web_search", arguments: { query: "scale", max_results: 2 } } },
        ],
      };

describe.skipIf(!RedisServer.available())(
  "scale-out: jobs kept in Redis, any instance answers",
  () => {
    it("defers research on A; get_result on B returns the cited answer", async () => {
      t.fake.chatResponder = research;
      t.fake.latency.chat = 500;
      const [a, b] = [await instance(), await instance()];
      const running = (
        await call(await client(a), "research", {
          question: "How do several instances share jobs?",
        })
      ).structuredContent as unknown as Running;
      expect(running).toMatchObject({ status: "running", job_id: expect.stringMatching(/^job_/) });
      let done: CallToolResult | undefined;
      const onB = await client(b);
      await until(async () => {
        done = await call(onB, "get_result", { job_id: running.job_id });
        return (done.structuredContent as { status?: string })?.status === "done";
      });
      expect(done?.structuredContent).toMatchObject({
        status: "done",
        job_id: running.job_id,
        answer: "Shared stores let any instance answer [1].",
        sources: [
          { index: 1, url: "https://example.com/scale/1" },
          { index: 2, url: "https://example.com/scale/2" },
        ],
      });
      // Nothing secret went to Redis, and no job id was logged.
      const everything = await redis.contents();
      expect(JSON.stringify(everything)).not.toContain(FAKE_API_KEY);
      expect(JSON.stringify(everything)).not.toContain(TOKEN);
      expect(a.stderr() + b.stderr()).not.toContain(running.job_id);
    });

    it("cancel_job on B closes A's upstream request", async () => {
      t.fake.inject("chat", { hang: true });
      const [a, b] = [await instance(), await instance()];
      const running = (await call(await client(a), "cloud_chat", { prompt: "never answered" }))
        .structuredContent as unknown as Running;
      const cancelled = await call(await client(b), "cancel_job", { job_id: running.job_id });
      expect(cancelled.structuredContent).toMatchObject({ was: "running", tool: "cloud_chat" });
      await t.fake.requestsTo("/api/chat")[0]?.closed;
      const result = await call(await client(b), "get_result", {
        job_id: running.job_id,
        wait_ms: 0,
      });
      expect(textOf(result)).toMatch(/was cancelled/);
    });

    it("reports a job lost, within a few lease periods, when A is killed mid-job", async () => {
      t.fake.inject("chat", { hang: true });
      const [a, b] = [await instance(), await instance()];
      const running = (await call(await client(a), "cloud_chat", { prompt: "A dies" }))
        .structuredContent as unknown as Running;
      const onB = await client(b);
      a.child.kill("SIGKILL");
      const killedAt = Date.now();
      let result: CallToolResult | undefined;
      await until(async () => {
        result = await call(onB, "get_result", { job_id: running.job_id });
        return result.isError === true;
      });
      expect(textOf(result as CallToolResult)).toMatch(
        /was lost: the server running it stopped before it finished/,
      );
      expect(Date.now() - killedAt).toBeLessThan(4 * LEASE_MS + DEFER_MS);
    });

    it("on SIGTERM marks a deferred job still running after the grace period lost at once", async () => {
      t.fake.inject("chat", { hang: true });
      const [a, b] = [
        await instance({ MCP_HTTP_SHUTDOWN_GRACE_MS: "200", OLLAMA_MCP_JOB_LEASE_MS: "60000" }),
        await instance(),
      ];
      const running = (await call(await client(a), "cloud_chat", { prompt: "A stops" }))
        .structuredContent as unknown as Running;
      a.child.kill("SIGTERM");
      expect(await a.exited).toBe(0);
      // The lease would last a minute: the job is lost because A said so on its way out.
      const result = await call(await client(b), "get_result", {
        job_id: running.job_id,
        wait_ms: 0,
      });
      expect(textOf(result)).toMatch(/was lost: the server running it stopped/);
      await t.fake.requestsTo("/api/chat")[0]?.closed;
    });

    it("keeps the owner in the store: a job is unknown to another client on any instance", async () => {
      t.fake.inject("chat", { hang: true });
      const [a, b] = [await instance(), await instance({ MCP_HTTP_TOKEN: `${TOKEN}-other` })];
      const running = (await call(await client(a), "cloud_chat", { prompt: "mine" }))
        .structuredContent as unknown as Running;
      const stranger = await client(b, `${TOKEN}-other`);
      expect(
        textOf(await call(stranger, "get_result", { job_id: running.job_id, wait_ms: 0 })),
      ).toMatch(/^Unknown job_id/);
      expect(textOf(await call(stranger, "cancel_job", { job_id: running.job_id }))).toMatch(
        /^Unknown job_id/,
      );
      await call(await client(a), "cancel_job", { job_id: running.job_id });
    });

    it("answers with a clear error naming the store while Redis is down, and recovers when it is back", async () => {
      const a = await instance();
      const mcp = await client(a);
      await redis.stop();
      const down = await call(mcp, "get_result", {
        job_id: "job_AAAAAAAAAAAAAAAAAAAAAAAA",
        wait_ms: 0,
      });
      expect(down.isError).toBe(true);
      expect(textOf(down)).toMatch(
        /^The job store \(Redis at 127\.0\.0\.1:\d+\) cannot be reached right now/,
      );
      // A long call still answers: it cannot be deferred, so it waits to the end.
      t.fake.latency.chat = 800;
      const waited = await call(mcp, "cloud_chat", { prompt: "no store" });
      expect(waited.structuredContent).toMatchObject({ status: "done", answer: "echo: no store" });
      await redis.restart();
      t.fake.latency.chat = 800;
      await until(async () => {
        const result = await call(mcp, "cloud_chat", { prompt: "store back" });
        return (result.structuredContent as { status?: string })?.status === "running";
      });
      expect(a.child.exitCode).toBeNull();
    });

    it("keeps a result that finished while Redis was down; once Redis is back, empty, B finds it", async () => {
      t.fake.latency.chat = 1_000;
      const [a, b] = [await instance(), await instance()];
      const [onA, onB] = [await client(a), await client(b)];
      const running = (await call(onA, "cloud_chat", { prompt: "through the outage" }))
        .structuredContent as unknown as Running;
      expect(running.status).toBe("running");
      await redis.stop();
      await t.fake.requestsTo("/api/chat")[0]?.closed;
      // A answers for its own job from memory, store or no store.
      let here: CallToolResult | undefined;
      await until(async () => {
        here = await call(onA, "get_result", { job_id: running.job_id, wait_ms: 0 });
        return (here.structuredContent as { status?: string } | undefined)?.status === "done";
      });
      expect(here?.structuredContent).toMatchObject({ answer: "echo: through the outage" });
      await redis.restart();
      // B may be back before A has written the result again: then it says so, never "unknown".
      let there: CallToolResult | undefined;
      await until(async () => {
        there = await call(onB, "get_result", { job_id: running.job_id });
        expect(textOf(there)).not.toMatch(/was lost/);
        if (/^Unknown job_id/.test(textOf(there))) {
          expect(textOf(there)).toMatch(/The job store came back from an outage moments ago/);
        }
        return (there.structuredContent as { status?: string } | undefined)?.status === "done";
      });
      expect(there?.structuredContent).toMatchObject({
        status: "done",
        answer: "echo: through the outage",
      });
    });

    it("never calls a job lost whose lease ran out while a persistent Redis was down", async () => {
      const persistent = await RedisServer.start([
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
      ]);
      try {
        t.fake.latency.chat = 4 * LEASE_MS;
        const store = { OLLAMA_MCP_STORE: persistent.url };
        const [a, b] = [await instance(store), await instance(store)];
        const onB = await client(b);
        const running = (
          await call(await client(a), "cloud_chat", { prompt: "outlasts its lease" })
        ).structuredContent as unknown as Running;
        const leaseEnds = await persistent.expiresAt(jobKeys.lease(running.job_id));
        expect(leaseEnds).toBeDefined();
        await persistent.stop();
        // Redis expires keys by the wall clock, across a restart too: it stays down until the
        // job's lease has run out, even if one more renewal landed before the stop.
        await until(() => Date.now() > (leaseEnds as number) + LEASE_MS / 3);
        await persistent.restart();
        let result: CallToolResult | undefined;
        await until(async () => {
          result = await call(onB, "get_result", { job_id: running.job_id, wait_ms: 0 });
          expect(textOf(result)).not.toMatch(/was lost/);
          return (result.structuredContent as { status?: string } | undefined)?.status === "done";
        });
        expect(result?.structuredContent).toMatchObject({ answer: "echo: outlasts its lease" });
      } finally {
        await persistent.close();
      }
    });

    it("keeps a caller's conversations in Redis within their count and size bounds", async () => {
      const a = await instance({
        OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER: "5",
        OLLAMA_MCP_CONVERSATION_MAX_CHARS: "100000",
      });
      const mcp = await client(a);
      for (let i = 0; i < 12; i++) await call(mcp, "cloud_chat", { prompt: `one-shot ${i}` });
      const huge = await call(mcp, "cloud_chat", { prompt: "h".repeat(150_000) });
      expect(huge.structuredContent).not.toHaveProperty("conversation_id");
      const stored = await redis.contents();
      const records = Object.keys(stored).filter((key) => /^ocm:conv:conv_/.test(key));
      expect(records).toHaveLength(5);
      expect(records.every((key) => (stored[key] as string).length < 100_000)).toBe(true);
      expect(JSON.stringify(stored)).not.toContain("one-shot 6");
      expect(JSON.stringify(stored)).toContain("one-shot 11");
    });

    it("stops at start, with exit 2 and a clear message, when Redis cannot be reached", async () => {
      const failure = await run(process.execPath, [BIN, "--http", "--port", "0"], {
        env: binEnv(t.fake, {
          MCP_HTTP_TOKEN: TOKEN,
          OLLAMA_MCP_STORE: "redis://:s3cret@127.0.0.1:1",
        }),
      }).catch((error: { code: number; stderr: string }) => error);
      expect(failure).toMatchObject({ code: 2 });
      const { stderr } = failure as { stderr: string };
      expect(stderr).toMatch(
        /cannot use the job store at 127\.0\.0\.1:1 \(OLLAMA_MCP_STORE\): connection failed: ECONNREFUSED/,
      );
      expect(stderr).not.toContain("s3cret");
    });

    it("stops at start when Redis refuses the credentials, without printing them", async () => {
      const locked = await RedisServer.start(["--requirepass", "right-password-77"]);
      try {
        const url = `redis://:wrong-password-77@127.0.0.1:${locked.port}`;
        const failure = await run(process.execPath, [BIN, "--http", "--port", "0"], {
          env: binEnv(t.fake, { MCP_HTTP_TOKEN: TOKEN, OLLAMA_MCP_STORE: url }),
        }).catch((error: { code: number; stderr: string }) => error);
        expect(failure).toMatchObject({ code: 2 });
        const { stderr } = failure as { stderr: string };
        expect(stderr).toMatch(
          /cannot use the job store at 127\.0\.0\.1:\d+ \(OLLAMA_MCP_STORE\): it refused the credentials in the URL/,
        );
        expect(stderr).not.toContain("wrong-password-77");
      } finally {
        await locked.close();
      }
    });
  },
);
