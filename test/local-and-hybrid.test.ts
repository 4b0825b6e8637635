import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FakeLocalOllama, SIGNIN_URL } from "./fake-local-ollama.js";
import { type ChatRequestBody, FakeOllamaCloud } from "./fake-ollama-cloud.js";
import { type Connected, connect, textOf } from "./harness.js";

let cloud: FakeOllamaCloud;
let local: FakeLocalOllama;
let closedPortUrl: string;
const open: Connected[] = [];

beforeAll(async () => {
  cloud = await FakeOllamaCloud.start();
  local = await FakeLocalOllama.start();
  const gone = await FakeLocalOllama.start();
  closedPortUrl = gone.url;
  await gone.close();
});
afterEach(async () => {
  // The key never reaches the local server, on any route.
  expect(local.requests.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
  cloud.reset();
  local.reset();
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await cloud.close();
  await local.close();
});

async function server(env: Record<string, string | undefined>): Promise<Connected> {
  const connected = await connect(cloud, { OLLAMA_HOST: local.url, ...env });
  open.push(connected);
  return connected;
}

const NO_KEY = { OLLAMA_API_KEY: undefined };
const localChatModels = () =>
  local.requestsTo("/api/chat").map((r) => (r.body as ChatRequestBody).model);
const cloudChatModels = () =>
  cloud.requestsTo("/api/chat").map((r) => (r.body as ChatRequestBody).model);

describe("hybrid mode with a key (the cloud directly)", () => {
  const env = { OLLAMA_MODE: "hybrid" };

  it("runs a model the local Ollama has locally", async () => {
    const mcp = await server(env);
    const result = await mcp.call("cloud_chat", { prompt: "hi", model: "qwen3:8b" });
    expect(result.structuredContent).toMatchObject({
      answer: "local:qwen3:8b echo: hi",
      route: { ran_on: "local" },
    });
    expect(localChatModels()).toEqual(["qwen3:8b"]);
    expect(cloud.requestsTo("/api/chat")).toHaveLength(0);
    expect(textOf(result)).toContain("on your local Ollama");
  });

  it("sends a cloud-suffixed name, or one only the cloud has, to the cloud without the suffix", async () => {
    const mcp = await server(env);
    for (const model of ["gpt-oss:120b-cloud", "gpt-oss:20b:cloud", "qwen3-vl:235b"]) {
      const result = await mcp.call("cloud_chat", { prompt: "hi", model });
      expect(result.structuredContent, model).toMatchObject({
        route: { ran_on: "cloud", via: "direct" },
      });
    }
    expect(cloudChatModels()).toEqual(["gpt-oss:120b", "gpt-oss:20b", "qwen3-vl:235b"]);
    expect(localChatModels()).toEqual([]);
  });

  it("keeps a :local name local, with no fallback when it fails", async () => {
    const mcp = await server(env);
    const ok = await mcp.call("cloud_chat", { prompt: "hi", model: "llama3.2:local" });
    expect(ok.structuredContent).toMatchObject({ route: { ran_on: "local" } });
    local.failNextChat = { status: 500, body: { error: "out of memory" } };
    const failed = await mcp.call("cloud_chat", { prompt: "hi", model: "qwen3:8b:local" });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toMatch(
      /^Your local Ollama at 127\.0\.0\.1:\d+ had a server error \(500/,
    );
    expect(cloud.requestsTo("/api/chat")).toHaveLength(0);
  });

  it.each([
    [
      "the local Ollama does not have the model",
      "mystery:1b",
      () => {},
      /does not have mystery:1b/,
    ],
    [
      "the local Ollama fails with a 5xx",
      "qwen3:8b",
      () => {
        local.failNextChat = { status: 503, body: { error: "busy" } };
      },
      /failed: HTTP 503/,
    ],
  ])(
    "falls back to OLLAMA_CLOUD_MODEL when %s, and says so",
    async (_case, model, arrange, reason) => {
      const mcp = await server(env);
      arrange();
      const result = await mcp.call("cloud_chat", { prompt: "hi", model });
      expect(result.isError).toBeFalsy();
      const route = (
        result.structuredContent as { route: { fallback: { from: string; reason: string } } }
      ).route;
      expect(route).toMatchObject({ ran_on: "cloud", via: "direct", fallback: { from: model } });
      expect(route.fallback.reason).toMatch(reason);
      expect(cloudChatModels()).toEqual(["gpt-oss:120b"]);
      expect(textOf(result)).toMatch(/Note: ran on the cloud instead of/);
    },
  );

  it("falls back when the local Ollama cannot be reached", async () => {
    const mcp = await server({ ...env, OLLAMA_HOST: closedPortUrl });
    const result = await mcp.call("cloud_chat", { prompt: "hi", model: "qwen3:8b" });
    expect(result.structuredContent).toMatchObject({
      route: {
        ran_on: "cloud",
        fallback: {
          from: "qwen3:8b",
          reason: expect.stringMatching(/could not be reached \(ECONNREFUSED\)/),
        },
      },
    });
  });

  it("keeps data on the machine when fallback is off", async () => {
    const mcp = await server({ ...env, OLLAMA_CLOUD_FALLBACK: "false" });
    const result = await mcp.call("cloud_chat", { prompt: "hi", model: "mystery:1b" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /does not have mystery:1b, and fallback to the cloud is off \(OLLAMA_CLOUD_FALLBACK=false\)/,
    );
    expect(cloud.requestsTo("/api/chat")).toHaveLength(0);
  });

  it("searches the web on the cloud with the key, and lists local and cloud models side by side", async () => {
    const mcp = await server(env);
    const search = await mcp.call("web_search", { query: "q", max_results: 2 });
    expect(search.structuredContent).toMatchObject({ route: { ran_on: "cloud", via: "direct" } });
    expect(cloud.requestsTo("/api/web_search")).toHaveLength(1);
    const models = (await mcp.call("list_models", {})).structuredContent as {
      models: { name: string; where: string }[];
    };
    expect(models.models.map((m) => `${m.where}:${m.name}`)).toEqual([
      "local:qwen3:8b",
      "local:llama3.2:latest",
      ...cloud.models.map((name) => `cloud:${name}`),
    ]);
  });

  it("summarises with a local model while searching on the cloud", async () => {
    const mcp = await server(env);
    const result = await mcp.call("search_and_summarize", {
      query: "q",
      max_results: 2,
      model: "qwen3:8b:local",
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      model: "qwen3:8b",
      routes: { search: { ran_on: "cloud", via: "direct" }, model: { ran_on: "local" } },
    });
    expect(cloud.requestsTo("/api/chat")).toHaveLength(0);
    expect(localChatModels()).toEqual(["qwen3:8b", "qwen3:8b", "qwen3:8b"]);
  });
});

describe("hybrid mode without a key (the cloud through the signed-in local Ollama)", () => {
  const env = { OLLAMA_MODE: "hybrid", ...NO_KEY };

  it("sends cloud-bound chat to the local Ollama with its suffix, and a plain cloud name with :cloud added", async () => {
    const mcp = await server(env);
    const suffixed = await mcp.call("cloud_chat", { prompt: "hi", model: "gpt-oss:120b-cloud" });
    expect(suffixed.structuredContent).toMatchObject({
      answer: "cloud:gpt-oss:120b echo: hi",
      route: { ran_on: "cloud", via: "local" },
    });
    const byDefault = await mcp.call("cloud_chat", { prompt: "hi" });
    expect(byDefault.structuredContent).toMatchObject({ route: { ran_on: "cloud", via: "local" } });
    expect(localChatModels()).toEqual(["gpt-oss:120b-cloud", "gpt-oss:120b:cloud"]);
    expect(cloud.requests).toHaveLength(0);
  });

  it("uses the local proxy's experimental web endpoints", async () => {
    const mcp = await server(env);
    const search = await mcp.call("web_search", { query: "ollama", max_results: 3 });
    expect(search.structuredContent).toMatchObject({ route: { ran_on: "cloud", via: "local" } });
    expect((search.structuredContent as { results: unknown[] }).results).toHaveLength(3);
    expect(local.requestsTo("/api/experimental/web_search")[0]?.body).toEqual({
      query: "ollama",
      max_results: 3,
    });
    const page = await mcp.call("web_fetch", { url: "https://ollama.com" });
    expect(page.structuredContent).toMatchObject({
      title: "Page at https://ollama.com",
      route: { via: "local" },
    });
    expect(local.requestsTo("/api/experimental/web_fetch")).toHaveLength(1);
    expect(cloud.requests).toHaveLength(0);
  });

  it("lists remote_host entries of the local /api/tags as cloud models", async () => {
    const mcp = await server(env);
    const { models } = (await mcp.call("list_models", {})).structuredContent as {
      models: { name: string; where: string }[];
    };
    expect(models.map((m) => `${m.where}:${m.name}`)).toEqual([
      "local:qwen3:8b",
      "local:llama3.2:latest",
      "cloud:gpt-oss:120b",
      "cloud:gpt-oss:120b",
      "cloud:glm-4.6",
    ]);
  });

  it("says to run `ollama signin`, with the URL, when the local Ollama is signed out", async () => {
    const mcp = await server(env);
    local.state = "signed-out";
    for (const [tool, args] of [
      ["web_search", { query: "q" }],
      ["cloud_chat", { prompt: "x", model: "glm-4.6:cloud" }],
    ] as const) {
      const result = await mcp.call(tool, args);
      expect(result.isError, tool).toBe(true);
      expect(textOf(result)).toBe(
        `Your local Ollama at ${new URL(local.url).host} is not signed in to ollama.com, so it cannot reach the cloud. Run \`ollama signin\` (or open ${SIGNIN_URL}), then try again.`,
      );
    }
  });

  it("respects a local Ollama with cloud disabled, and says where to turn it back on", async () => {
    const mcp = await server(env);
    local.state = "cloud-disabled";
    const chat = await mcp.call("cloud_chat", { prompt: "x", model: "glm-4.6:cloud" });
    expect(textOf(chat)).toMatch(
      /^Cloud use is turned off on your local Ollama at 127\.0\.0\.1:\d+ \(cloud is disabled: remote model is unavailable\)\. This server will not go around that choice\. .*Ollama app's settings.*OLLAMA_NO_CLOUD=1/,
    );
    const search = await mcp.call("web_search", { query: "q" });
    expect(textOf(search)).toMatch(/cloud is disabled: web search is unavailable/);
    expect(cloud.requests).toHaveLength(0);
  });

  it("names both ways in when there is no key and no local Ollama", async () => {
    const mcp = await server({ ...env, OLLAMA_HOST: closedPortUrl });
    for (const [tool, args] of [
      ["web_search", { query: "q" }],
      ["cloud_chat", { prompt: "x", model: "gpt-oss:120b-cloud" }],
    ] as const) {
      const result = await mcp.call(tool, args);
      expect(result.isError, tool).toBe(true);
      expect(textOf(result)).toMatch(
        /no way to Ollama's cloud: OLLAMA_API_KEY is not set, and no Ollama answers at http:\/\/127\.0\.0\.1:\d+\. Either set OLLAMA_API_KEY \(create a key at https:\/\/ollama\.com\/settings\/keys\), or start the Ollama app and run `ollama signin`/,
      );
    }
  });
});

describe("local mode", () => {
  it("keeps chat local, and searches the cloud with the key when there is one", async () => {
    const mcp = await server({ OLLAMA_MODE: "local", OLLAMA_LOCAL_MODEL: "qwen3:8b" });
    const chat = await mcp.call("cloud_chat", { prompt: "hi", options: { num_ctx: 8192 } });
    expect((chat.structuredContent as { warnings?: string[] }).warnings).toBeUndefined();
    expect(chat.structuredContent).toMatchObject({
      answer: "local:qwen3:8b echo: hi",
      route: { ran_on: "local" },
    });
    const cloudNamed = await mcp.call("cloud_chat", { prompt: "hi", model: "glm-4.6:cloud" });
    // The local Ollama proxies a cloud-suffixed model: it ran in the cloud.
    expect(cloudNamed.structuredContent).toMatchObject({
      route: { ran_on: "cloud", via: "local" },
    });
    expect(textOf(cloudNamed)).toContain("on Ollama's cloud (through your Ollama)");
    expect(localChatModels()).toEqual(["qwen3:8b", "glm-4.6:cloud"]);
    await mcp.call("web_search", { query: "q" });
    expect(cloud.requestsTo("/api/web_search")).toHaveLength(1);
    expect(cloud.requestsTo("/api/chat")).toHaveLength(0);
  });

  it("reaches the web through the local proxy without a key", async () => {
    const mcp = await server({ OLLAMA_MODE: "local", ...NO_KEY });
    const search = await mcp.call("web_search", { query: "q" });
    expect(search.structuredContent).toMatchObject({ route: { ran_on: "cloud", via: "local" } });
    expect(cloud.requests).toHaveLength(0);
  });

  it("asks for a model when none is given and OLLAMA_LOCAL_MODEL is not set", async () => {
    const mcp = await server({ OLLAMA_MODE: "local" });
    const result = await mcp.call("cloud_chat", { prompt: "hi" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/No model given, and OLLAMA_LOCAL_MODEL is not set/);
    expect(local.requests).toHaveLength(0);
  });

  it("names the local models when one is missing", async () => {
    const mcp = await server({ OLLAMA_MODE: "local" });
    const result = await mcp.call("cloud_chat", { prompt: "hi", model: "mystery:1b" });
    expect(textOf(result)).toMatch(
      /Model "mystery:1b" is not available on your local Ollama at 127\.0\.0\.1:\d+\. Models available there now include: qwen3:8b, llama3\.2:latest\./,
    );
  });
});

describe("cloud mode", () => {
  it("never touches the local Ollama", async () => {
    const mcp = await server({});
    await mcp.call("cloud_chat", { prompt: "hi", model: "gpt-oss:120b-cloud" });
    await mcp.call("web_search", { query: "q" });
    await mcp.call("list_models", {});
    expect(local.requests).toHaveLength(0);
  });
});
