import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import pkg from "../package.json" with { type: "json" };
import { parseCli } from "../src/cli.js";
import {
  ConfigError,
  DEFAULT_CLOUD_HOST,
  DEFAULT_CLOUD_MODEL,
  resolveConfig,
  SETTINGS,
  type ServerConfig,
} from "../src/config.js";
import { isLoopbackHostname } from "../src/hosts.js";
import { hostProblem } from "../src/http/guards.js";
import { TOOL_NAMES } from "../src/tools/all.js";
import { offeredTools } from "../src/tools/registry.js";
import { VERSION } from "../src/version.js";

describe("configuration", () => {
  it("has sensible defaults and needs no key to start", () => {
    // Each default is written once, in SETTINGS; --help and docs/configuration.md show them all.
    expect(resolveConfig({}, {})).toMatchObject({
      apiKey: undefined,
      cloudHost: DEFAULT_CLOUD_HOST,
      defaultModel: DEFAULT_CLOUD_MODEL,
      mode: "cloud",
      cloudVia: "direct",
      deferAfterMs: 45_000,
      store: { kind: "memory" },
      tools: TOOL_NAMES,
      conversations: true,
    });
  });

  it("gives every setting but the key a flag twin", () => {
    for (const setting of Object.values(SETTINGS)) {
      if (setting.env !== "OLLAMA_API_KEY") expect(setting.flag, setting.env).toBeTruthy();
    }
  });

  it("reads numeric settings and the log level from env and flags", () => {
    const env = {
      OLLAMA_CLOUD_TIMEOUT_MS: "5000",
      OLLAMA_CLOUD_RETRIES: "0",
      OLLAMA_MCP_LOG_LEVEL: "WARNING",
    };
    expect(resolveConfig({}, env)).toMatchObject({
      timeoutMs: 5000,
      retries: 0,
      logLevel: "warning",
    });
    const action = parseCli(
      ["--timeout-ms", "750", "--search-cache-ttl-ms", "0", "--log-level", "off"],
      env,
    );
    expect(action).toMatchObject({
      config: { timeoutMs: 750, searchCacheTtlMs: 0, logLevel: "off" },
    });
  });

  it("accepts the key with or without a leading Bearer", () => {
    expect(resolveConfig({}, { OLLAMA_API_KEY: "abc" }).apiKey).toBe("abc");
    expect(resolveConfig({}, { OLLAMA_API_KEY: "Bearer abc" }).apiKey).toBe("abc");
    expect(resolveConfig({}, { OLLAMA_API_KEY: "  bearer   abc  " }).apiKey).toBe("abc");
    expect(resolveConfig({}, { OLLAMA_API_KEY: "   " }).apiKey).toBeUndefined();
  });

  it("reads a setting an MCP Bundle left unfilled (a literal ${user_config.x}) as not set", () => {
    expect(
      resolveConfig(
        {},
        {
          OLLAMA_API_KEY: "${user_config.api_key}",
          OLLAMA_MODE: "${user_config.mode}",
          OLLAMA_HOST: "${user_config.ollama_host}",
        },
      ),
    ).toMatchObject({ apiKey: undefined, mode: "cloud", ollamaHost: "http://127.0.0.1:11434" });
  });

  it("layers defaults < environment < flags", () => {
    const env = { OLLAMA_CLOUD_MODEL: "gpt-oss:20b", OLLAMA_CLOUD_HOST: "https://env.example" };
    expect(resolveConfig({}, env)).toMatchObject({
      defaultModel: "gpt-oss:20b",
      cloudHost: "https://env.example",
    });
    const action = parseCli(
      ["--model", "glm-4.6:cloud", "--cloud-host", "https://flag.example/"],
      env,
    );
    expect(action).toMatchObject({
      kind: "serve",
      config: {
        apiKey: undefined,
        cloudHost: "https://flag.example",
        defaultModel: "glm-4.6:cloud",
      },
    });
  });

  it("refuses to send the key over plain http to a host that is not loopback", () => {
    expect(() =>
      resolveConfig({}, { OLLAMA_API_KEY: "k", OLLAMA_CLOUD_HOST: "http://proxy.example:8080" }),
    ).toThrow(/Refusing to send OLLAMA_API_KEY over plain http:\/\/ to proxy.example:8080/);
    for (const host of ["http://127.0.0.1:1234", "http://localhost:1", "http://[::1]:2"]) {
      expect(resolveConfig({}, { OLLAMA_API_KEY: "k", OLLAMA_CLOUD_HOST: host }).cloudHost).toBe(
        host,
      );
    }
  });

  it.each([
    [{ OLLAMA_CLOUD_HOST: "ollama.com" }, /absolute http\(s\) URL/],
    [{ OLLAMA_CLOUD_HOST: "ftp://ollama.com" }, /must use https/],
    [{ OLLAMA_CLOUD_HOST: "https://user:pw@ollama.com" }, /without credentials/],
    [{ OLLAMA_CLOUD_MODEL: "gpt-oss:20b:local" }, /must be a cloud model/],
    [{ OLLAMA_CLOUD_MODEL: "a b" }, /OLLAMA_CLOUD_MODEL \(--model\): "a b" is not a model name/],
    [
      { OLLAMA_CLOUD_TIMEOUT_MS: "0" },
      /OLLAMA_CLOUD_TIMEOUT_MS \(--timeout-ms\) must be a whole number from 1 to 3600000; got "0"/,
    ],
    [{ OLLAMA_CLOUD_TIMEOUT_MS: "1.5s" }, /must be a whole number/],
    [
      { OLLAMA_CLOUD_RETRIES: "11" },
      /OLLAMA_CLOUD_RETRIES \(--retries\) must be a whole number from 0 to 10/,
    ],
    [{ OLLAMA_MCP_LOG_LEVEL: "loud" }, /must be debug, info, warning, error or off; got "loud"/],
    [
      { OLLAMA_MCP_STORE: "redis" },
      /OLLAMA_MCP_STORE \(--store\) must be memory, or a redis:\/\/ or rediss:\/\/ URL/,
    ],
    [{ OLLAMA_MCP_STORE: "http://user:pw@cache:6379" }, /got a http:\/\/ URL\.$/],
    [
      { OLLAMA_MCP_CONVERSATIONS: "no" },
      /^OLLAMA_MCP_CONVERSATIONS \(--conversations\) must be on or off; got "no"\.$/,
    ],
    [
      { OLLAMA_MCP_MAX_JOBS_PER_CALLER: "0" },
      /OLLAMA_MCP_MAX_JOBS_PER_CALLER \(--max-jobs-per-caller\) must be a whole number from 1 to 10000/,
    ],
    [
      { OLLAMA_UPSTREAM_CONCURRENCY_TOTAL: "-1" },
      /OLLAMA_UPSTREAM_CONCURRENCY_TOTAL \(--upstream-concurrency-total\) must be a whole number/,
    ],
    [
      { OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER: "x" },
      /OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER \(--max-conversations-per-caller\) must be a whole number/,
    ],
  ])("rejects %j with a clear message", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(ConfigError);
    expect(() => resolveConfig({}, env)).toThrow(message);
  });

  it("reads the per-caller bounds and the conversation switch from flags and env", () => {
    const { config } = parseCli(
      [
        "--conversations",
        "OFF",
        "--max-jobs-per-caller",
        "3",
        "--upstream-concurrency-total",
        "9",
        "--max-conversations",
        "50",
      ],
      { OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER: "7", OLLAMA_MCP_CONVERSATIONS: "on" },
    ) as { config: ServerConfig };
    expect(config).toMatchObject({
      conversations: false,
      maxJobsPerCaller: 3,
      upstreamConcurrencyTotal: 9,
      maxConversations: 50,
      maxConversationsPerCaller: 7,
    });
  });

  it("chooses the way to the cloud: direct with a key, else the local Ollama in local or hybrid mode", () => {
    const via = (env: Record<string, string>) => resolveConfig({}, env).cloudVia;
    expect(via({ OLLAMA_API_KEY: "k", OLLAMA_MODE: "hybrid" })).toBe("direct");
    expect(via({ OLLAMA_MODE: "hybrid" })).toBe("local");
    expect(via({ OLLAMA_MODE: "local" })).toBe("local");
    expect(via({})).toBe("direct");
    expect(via({ OLLAMA_API_KEY: "k", OLLAMA_CLOUD_VIA: "LOCAL" })).toBe("local");
    expect(parseCli(["--mode", "hybrid", "--cloud-via", "direct"], {})).toMatchObject({
      config: { mode: "hybrid", cloudVia: "direct" },
    });
  });

  it.each([
    [
      { OLLAMA_CLOUD_VIA: "proxy" },
      /OLLAMA_CLOUD_VIA \(--cloud-via\) must be direct, local or auto; got "proxy"/,
    ],
    [{ OLLAMA_MODE: "edge" }, /OLLAMA_MODE \(--mode\) must be cloud, local or hybrid; got "edge"/],
    [
      { OLLAMA_CLOUD_FALLBACK: "maybe" },
      /OLLAMA_CLOUD_FALLBACK \(--cloud-fallback\) must be true or false/,
    ],
    [
      { OLLAMA_CLOUD_FALLBACK: "yes" },
      /^OLLAMA_CLOUD_FALLBACK \(--cloud-fallback\) must be true or false \(or 1\/0\); got "yes"\.$/,
    ],
    [{ OLLAMA_HOST: "ftp://x" }, /OLLAMA_HOST must use http/],
    [
      { OLLAMA_LOCAL_MODEL: "a b" },
      /OLLAMA_LOCAL_MODEL \(--local-model\): "a b" is not a model name/,
    ],
  ])("refuses routing setting %j", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(message);
  });

  it.each([
    ["http://127.0.0.1:11434", "http://127.0.0.1:11434"],
    ["127.0.0.1:11434", "http://127.0.0.1:11434"],
    ["0.0.0.0:11434", "http://127.0.0.1:11434"],
    [":11434", "http://127.0.0.1:11434"],
    ["11434", "http://127.0.0.1:11434"],
    ["localhost", "http://localhost:11434"],
    ["http://localhost", "http://localhost"],
    ["https://ollama.internal", "https://ollama.internal"],
    ["[::]:11434", "http://[::1]:11434"],
  ])("reads OLLAMA_HOST=%j as Ollama does: %s", (raw, url) => {
    expect(resolveConfig({}, { OLLAMA_HOST: raw }).ollamaHost).toBe(url);
  });

  it("rejects unknown flags and answers --help and --version", () => {
    expect(() => parseCli(["--modle", "x"], {})).toThrow(/--help/);
    expect(parseCli(["--help"], {})).toEqual({ kind: "help" });
    expect(parseCli(["-v"], {})).toEqual({ kind: "version" });
  });

  it("knows loopback hosts", () => {
    expect(
      ["localhost", "127.0.0.1", "127.9.9.9", "[::1]", "api.localhost"].every(isLoopbackHostname),
    ).toBe(true);
    expect(
      ["ollama.com", "10.0.0.1", "127.0.0.1.evil.com", "0.0.0.0"].some(isLoopbackHostname),
    ).toBe(false);
  });

  it("reports the package's version", () => {
    expect(VERSION).toBe(pkg.version);
  });
});

describe("tool selection (OLLAMA_MCP_TOOLS, --tools)", () => {
  it("offers every tool by default, or with all", () => {
    expect(resolveConfig({}, {}).tools).toEqual(TOOL_NAMES);
    expect(resolveConfig({}, { OLLAMA_MCP_TOOLS: "all" }).tools).toEqual(TOOL_NAMES);
  });

  it("suggests the tool a typo meant, and refuses a value that names no tool at all", () => {
    expect(() =>
      resolveConfig({}, { OLLAMA_MCP_TOOLS: "websearch,cloud-chat,resarch,xyz" }),
    ).toThrow(
      /\(("websearch" is maybe web_search; "cloud-chat" is maybe cloud_chat; "resarch" is maybe research)\?\)$/,
    );
    expect(() => resolveConfig({}, { OLLAMA_MCP_TOOLS: "," })).toThrow(
      /^OLLAMA_MCP_TOOLS \(--tools\) names no tool \(","\): give a comma-separated list of cloud_chat, .*, or all\.$/,
    );
    // Blank means not set, as for every setting.
    expect(resolveConfig({}, { OLLAMA_MCP_TOOLS: "  " }).tools).toEqual(TOOL_NAMES);
  });

  it("offers the tools named, in the usual order, with the job tools a long tool needs", () => {
    expect(resolveConfig({}, { OLLAMA_MCP_TOOLS: " web_fetch, WEB_SEARCH " }).tools).toEqual([
      "web_search",
      "web_fetch",
    ]);
    const offered = (env: Record<string, string>) =>
      offeredTools(resolveConfig({}, env)).map(({ tool }) => tool.name);
    expect(offered({ OLLAMA_MCP_TOOLS: "research" })).toEqual([
      "research",
      "get_result",
      "cancel_job",
    ]);
    expect(offered({ OLLAMA_MCP_TOOLS: "research", OLLAMA_MCP_DEFER_AFTER_MS: "0" })).toEqual([
      "research",
    ]);
    expect(offered({ OLLAMA_MCP_TOOLS: "web_search,get_result" })).toEqual([
      "web_search",
      "get_result",
    ]);
  });

  it("refuses a name it does not have, listing the ones it has", () => {
    expect(() => resolveConfig({}, { OLLAMA_MCP_TOOLS: "web_search,websearch" })).toThrow(
      /OLLAMA_MCP_TOOLS \(--tools\) names "websearch", which this server does not have; the tools are: cloud_chat, web_search, search_and_summarize, web_fetch, list_models, research, consensus, cloud_usage, get_result, cancel_job\./,
    );
  });
});

describe("callers' own keys (MCP_HTTP_KEYS=client)", () => {
  const env = { MCP_HTTP: "1", MCP_HTTP_KEYS: "client" };
  it("needs no key and no token, even beyond loopback", () => {
    expect(parseCli(["--host", "0.0.0.0"], env)).toMatchObject({
      config: { apiKey: undefined },
      http: { keys: "client", token: undefined, host: "0.0.0.0" },
    });
  });

  it.each([
    [
      { MCP_HTTP_KEYS: "mine" },
      /MCP_HTTP_KEYS \(--http-keys\) must be server or client; got "mine"/,
    ],
    [{ ...env, OLLAMA_CLOUD_VIA: "local" }, /OLLAMA_CLOUD_VIA must be direct/],
    [
      { ...env, OLLAMA_CLOUD_HOST: "http://proxy.example" },
      /would send callers' keys over plain http:\/\/ to proxy\.example/,
    ],
  ])("refuses %j", (settings, message) => {
    expect(() => parseCli([], settings)).toThrow(message);
  });
});

describe("OAuth sign-in (MCP_HTTP_AUTH=oauth)", () => {
  const env = {
    MCP_HTTP: "1",
    MCP_HTTP_AUTH: "oauth",
    MCP_PUBLIC_URL: "https://mcp.example.com/mcp/",
    MCP_OAUTH_SECRET: "0123456789abcdef0123456789abcdef",
  };

  it("refuses to listen beyond loopback over plain http, and trusting every address as a proxy", () => {
    const local = { ...env, MCP_PUBLIC_URL: "http://localhost:3999" };
    expect(() => parseCli(["--host", "0.0.0.0"], local)).toThrow(
      /listens on 0\.0\.0\.0, beyond loopback, while MCP_PUBLIC_URL is http:\/\//,
    );
    expect(parseCli([], local)).toMatchObject({ kind: "serve" });
    for (const range of ["0.0.0.0/0", "::/0"]) {
      expect(() => parseCli([], { ...env, MCP_HTTP_TRUSTED_PROXIES: range })).toThrow(
        /MCP_HTTP_TRUSTED_PROXIES \(--http-trusted-proxies\) cannot trust every address/,
      );
    }
  });

  it("refuses any other Host than the public one and loopback, wherever it listens", () => {
    const action = parseCli(["--host", "0.0.0.0"], env);
    if (action.kind !== "serve") throw new Error(action.kind);
    const problem = (host: string, allowedHosts: string[] = action.http.allowedHosts) =>
      hostProblem(host, { allowedHosts, boundTo: "0.0.0.0", signInUrl: action.http.publicUrl });
    for (const host of ["mcp.example.com", "localhost:3000", "127.0.0.1", "[::1]:3000"]) {
      expect(problem(host), host).toBeUndefined();
    }
    expect(problem("evil.example")).toBe("Forbidden: Host evil.example is not allowed");
    expect(problem("localhost", ["proxy.internal"])).toBe(
      "Forbidden: Host localhost is not allowed",
    );
    expect(problem("proxy.internal", ["proxy.internal"])).toBeUndefined();
  });

  it("says which HTTP settings a stdio start ignores, and a too-short secret for what it is", () => {
    expect(parseCli(["--port", "3000"], { OLLAMA_API_KEY: "k" })).toMatchObject({
      warnings: [
        "--port is ignored: this start serves stdio. Add --http (or MCP_HTTP=true) to serve HTTP.",
      ],
    });
    expect(parseCli([], { OLLAMA_API_KEY: "k", MCP_HTTP_TOKEN: "t" })).toMatchObject({
      warnings: [
        "MCP_HTTP_TOKEN is ignored: this start serves stdio. Add --http (or MCP_HTTP=true) to serve HTTP.",
      ],
    });
    expect(() => parseCli([], { ...env, MCP_OAUTH_SECRET: "a-secret-of-26-characters." })).toThrow(
      /needs an MCP_OAUTH_SECRET of at least 32 bytes; this one has 26/,
    );
  });

  it("suggests the setting a misspelled variable or flag most likely meant", () => {
    expect(parseCli([], { OLLAMA_API_KEY: "k", OLLAMA_CLOUD_MODLE: "x" })).toMatchObject({
      warnings: [
        "OLLAMA_CLOUD_MODLE is not a setting of this server and is ignored: did you mean OLLAMA_CLOUD_MODEL?",
      ],
    });
    // Ollama's own variables, and ones far from any setting, pass unremarked.
    expect(
      parseCli([], { OLLAMA_API_KEY: "k", OLLAMA_MODELS: "/m", MCP_SOMETHING_ELSE: "1" }),
    ).toMatchObject({
      warnings: [],
    });
    expect(() => parseCli(["--timout-ms", "5"], {})).toThrow(
      "Unknown option '--timout-ms'. Did you mean --timeout-ms? Run with --help to see the options.",
    );
  });

  it("says which sign-in settings a server without sign-in ignores", () => {
    const action = parseCli([], {
      MCP_HTTP: "1",
      OLLAMA_API_KEY: "k",
      MCP_PUBLIC_URL: "https://mcp.example.com",
      MCP_OAUTH_SECRET: "0123456789abcdef0123456789abcdef",
    });
    expect(action).toMatchObject({
      warnings: [
        "MCP_PUBLIC_URL, MCP_OAUTH_SECRET are ignored: only sign-in reads that, and it is off (set MCP_HTTP_AUTH=oauth to turn it on).",
      ],
    });
    expect(parseCli([], { ...env })).toMatchObject({ warnings: [] });
  });

  it("needs the public URL and a secret, and no key or token of the server's", () => {
    expect(parseCli(["--host", "0.0.0.0"], env)).toMatchObject({
      config: { apiKey: undefined },
      http: {
        auth: "oauth",
        publicUrl: "https://mcp.example.com",
        oauthRedirectHosts: ["claude.ai", "claude.com", "chatgpt.com", "vscode.dev", "loopback"],
        oauthClientIdHosts: [],
        oauthAccessTtlMs: 3_600_000,
        oauthRefreshTtlMs: 2_592_000_000,
        trustedProxies: ["loopback"],
      },
    });
  });

  it("reads the secret from a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "ocm-secret-"));
    const file = join(dir, "secret");
    writeFileSync(file, "a-secret-from-a-file-of-32-bytes-or-more\n");
    const { MCP_OAUTH_SECRET: _, ...withoutSecret } = env;
    const action = parseCli(["--oauth-secret-file", file], withoutSecret);
    expect(action).toMatchObject({
      http: {
        oauthSecret: "a-secret-from-a-file-of-32-bytes-or-more",
        oauthSecretFile: file,
      },
    });
  });

  it.each([
    [{ MCP_HTTP_AUTH: "password" }, /MCP_HTTP_AUTH \(--http-auth\) must be token or oauth/],
    [{ MCP_HTTP: "0" }, /is for --http/],
    [{ MCP_PUBLIC_URL: undefined }, /needs MCP_PUBLIC_URL/],
    [{ MCP_PUBLIC_URL: "http://mcp.example.com" }, /must use https:\/\//],
    [{ MCP_PUBLIC_URL: "http://[::1]:3000" }, /or http:\/\/localhost or http:\/\/127\.0\.0\.1/],
    [{ MCP_PUBLIC_URL: "https://example.com/ollama" }, /not a path \(\/ollama\)/],
    [{ MCP_PUBLIC_URL: "https://u:p@example.com" }, /without credentials/],
    [{ MCP_OAUTH_SECRET: undefined }, /needs MCP_OAUTH_SECRET: at least 32 random bytes/],
    [{ MCP_OAUTH_SECRET: "too-short" }, /at least 32 bytes; this one has 9/],
    [
      { MCP_OAUTH_SECRET_FILE: "/nonexistent/secret" },
      /takes MCP_OAUTH_SECRET or MCP_OAUTH_SECRET_FILE, not both/,
    ],
    [
      { MCP_OAUTH_SECRET: undefined, MCP_OAUTH_SECRET_FILE: "/nonexistent/secret" },
      /cannot read MCP_OAUTH_SECRET_FILE \(ENOENT\)/,
    ],
    [{ MCP_HTTP_TOKEN: "a-token" }, /unset MCP_HTTP_TOKEN/],
    [{ OLLAMA_API_KEY: "a-key" }, /unset OLLAMA_API_KEY/],
    [{ MCP_HTTP_KEYS: "client" }, /MCP_HTTP_KEYS=client cannot be set too/],
    [{ OLLAMA_MODE: "hybrid" }, /works with Ollama's cloud only, and OLLAMA_MODE is hybrid/],
    [{ OLLAMA_MODE: "local" }, /works with Ollama's cloud only, and OLLAMA_MODE is local/],
    [{ OLLAMA_CLOUD_VIA: "local" }, /OLLAMA_CLOUD_VIA must be direct/],
    [{ MCP_OAUTH_REDIRECT_HOSTS: "https://claude.ai" }, /takes host names, such as claude\.ai/],
    [{ MCP_HTTP_TRUSTED_PROXIES: "10.0.0.0/33" }, /takes loopback, linklocal, uniquelocal/],
    [{ MCP_OAUTH_ACCESS_TTL_MS: "10" }, /MCP_OAUTH_ACCESS_TTL_MS/],
  ])("refuses %j", (settings, message) => {
    expect(() => parseCli([], { ...env, ...settings })).toThrow(message);
  });

  it("takes no flag for the secret itself: command lines are visible to other users", () => {
    expect(() => parseCli(["--oauth-secret", "x"], env)).toThrow();
  });
});
