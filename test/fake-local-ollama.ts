import { appendFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseModelRef } from "../src/model-name.js";
import {
  defaultFetchPage,
  defaultSearchHits,
  type RecordedRequest,
  recordOf,
} from "./fake-ollama-cloud.js";
import {
  type LoopbackServer,
  listenOnLoopback,
  readJsonBody,
  sendJson,
} from "./loopback-server.js";

/**
 * A loopback fake of a local Ollama that the user signed in with `ollama signin`: it serves its
 * own models, proxies cloud-suffixed models and the experimental web endpoints "to the cloud",
 * lists cloud stubs with remote_host in /api/tags, and can be signed out or have cloud disabled.
 * Wire format as in ollama/ollama's server/routes.go and server/cloud_proxy.go.
 */
export type LocalState = "signed-in" | "signed-out" | "cloud-disabled";

export const SIGNIN_URL = "https://ollama.com/connect?name=test-host&key=c3NoLWVkMjU1MTk";

/** Every request any local fake received in this test run, for the suite-wide key check. */
const SUITE_LOG = process.env.LOCAL_FAKE_LOG;

export class FakeLocalOllama {
  readonly requests: RecordedRequest[] = [];
  state: LocalState = "signed-in";
  localModels = ["qwen3:8b", "llama3.2:latest"];
  cloudStubs = [
    { name: "gpt-oss:120b-cloud", remote_model: "gpt-oss:120b" },
    { name: "gpt-oss:120b:cloud", remote_model: "gpt-oss:120b" },
    { name: "glm-4.6:cloud", remote_model: "glm-4.6" },
  ];
  /** Status to answer the next /api/chat with, for failure tests. */
  failNextChat: { status: number; body: unknown } | undefined;

  private server!: LoopbackServer;

  private constructor() {}

  static async start(): Promise<FakeLocalOllama> {
    const fake = new FakeLocalOllama();
    fake.server = await listenOnLoopback((req, res) => fake.handle(req, res));
    return fake;
  }

  get url(): string {
    return this.server.url;
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  reset(): void {
    this.requests.length = 0;
    this.state = "signed-in";
    this.failNextChat = undefined;
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonBody(req);
    const recorded = recordOf(req, res, body);
    this.requests.push(recorded);
    const { path } = recorded;
    if (SUITE_LOG) {
      appendFileSync(
        SUITE_LOG,
        `${JSON.stringify({ path, authorization: req.headers.authorization !== undefined })}\n`,
      );
    }

    if (req.method === "GET" && path === "/api/tags") return this.answerTags(res);
    if (req.method === "POST" && path === "/api/chat") return this.answerChat(body, res);
    if (req.method === "POST" && path === "/api/experimental/web_search") {
      const { query, max_results } = (body ?? {}) as { query?: string; max_results?: number };
      if (this.refuseCloud(res, "web search is unavailable")) return;
      return sendJson(res, 200, { results: defaultSearchHits(query ?? "", max_results ?? 5) });
    }
    if (req.method === "POST" && path === "/api/experimental/web_fetch") {
      if (this.refuseCloud(res, "web fetch is unavailable")) return;
      return sendJson(res, 200, defaultFetchPage((body as { url?: string })?.url ?? ""));
    }
    sendJson(res, 404, { error: "404 page not found" });
  }

  /** The answers of a local Ollama that cannot reach the cloud. */
  private refuseCloud(res: ServerResponse, operation: string): boolean {
    if (this.state === "signed-out") {
      sendJson(res, 401, { error: "unauthorized", signin_url: SIGNIN_URL });
      return true;
    }
    if (this.state === "cloud-disabled") {
      sendJson(res, 403, { error: `cloud is disabled: ${operation}` });
      return true;
    }
    return false;
  }

  private answerTags(res: ServerResponse): void {
    const entry = (name: string, extra: Record<string, unknown> = {}) => ({
      name,
      model: name,
      modified_at: "2026-10-01T00:00:00Z",
      size: 4_000_000_000,
      digest: "sha256:0",
      details: { family: name.split(":")[0], parameter_size: "8B", quantization_level: "Q4_K_M" },
      ...extra,
    });
    sendJson(res, 200, {
      models: [
        ...this.localModels.map((name) => entry(name)),
        ...this.cloudStubs.map((stub) =>
          entry(stub.name, {
            remote_host: "https://ollama.com:443",
            remote_model: stub.remote_model,
          }),
        ),
      ],
    });
  }

  private answerChat(body: unknown, res: ServerResponse): void {
    const request = body as { model: string; messages: { content: string }[] };
    if (this.failNextChat) {
      const { status, body: errorBody } = this.failNextChat;
      this.failNextChat = undefined;
      sendJson(res, status, errorBody);
      return;
    }
    const ref = parseModelRef(request.model);
    let answeredBy: string;
    if (ref.placement === "cloud") {
      if (this.refuseCloud(res, "remote model is unavailable")) return;
      answeredBy = `cloud:${ref.base}`;
    } else {
      const name = ref.base.includes(":") ? ref.base : `${ref.base}:latest`;
      if (!this.localModels.includes(name)) {
        sendJson(res, 404, { error: `model '${ref.base}' not found` });
        return;
      }
      answeredBy = `local:${ref.base}`;
    }
    const content = `${answeredBy} echo: ${request.messages.at(-1)?.content ?? ""}`;
    const chunk = (message: string, done: boolean) => ({
      model: request.model,
      created_at: new Date().toISOString(),
      message: { role: "assistant", content: message },
      done,
      ...(done && {
        done_reason: "stop",
        total_duration: 2_000_000,
        prompt_eval_count: 3,
        eval_count: 2,
        eval_duration: 1_000_000,
      }),
    });
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    res.write(`${JSON.stringify(chunk(content, false))}\n`);
    res.end(`${JSON.stringify(chunk("", true))}\n`);
  }
}
