import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { CallToolResult } from "@modelcontextprotocol/server";
import { chromium } from "playwright-core";
import { createClient } from "redis";
import { describe, expect, it } from "vitest";
import { DocumentServer } from "../document-server.js";
import { FAKE_API_KEY } from "../fake-ollama-cloud.js";
import { textOf } from "../harness.js";
import { freePort, listenOnLoopback } from "../loopback-server.js";
import {
  authorizeUrl,
  connectSignedIn,
  exchange,
  formOf,
  mcpStatus,
  pkce,
  type Registered,
  register,
  SignInWithKey,
  submitForm,
} from "../oauth-client.js";
import { RedisServer } from "../redis-server.js";
import { BIN, binEnv, type HttpBin } from "../spawn-bin.js";
import { testTools } from "../test-tools.js";
import { useHttpBins } from "./http-harness.js";

const run = promisify(execFile);
const SECRET = "e2e-oauth-secret-of-more-than-32-bytes-5a7c";
const BRAVO = "ollama-key-bravo-7d1e54";
/** Debian's chromium (.ci/run installs it), or the browser CHROMIUM names. */
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "../../test-results");

const t = useHttpBins();

/** The built bin as an OAuth server on a port chosen first: its public URL names the port. */
async function oauthBin(env: Record<string, string> = {}, port?: number): Promise<HttpBin> {
  const listen = port ?? (await freePort());
  t.fake.otherKeys = [BRAVO];
  return t.start(["--port", String(listen)], {
    OLLAMA_API_KEY: undefined,
    MCP_HTTP_AUTH: "oauth",
    MCP_PUBLIC_URL: `http://127.0.0.1:${listen}`,
    MCP_OAUTH_SECRET: SECRET,
    ...env,
  });
}

const call = async (
  client: { callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown> },
  name: string,
  args: Record<string, unknown>,
) => (await client.callTool({ name, arguments: args })) as CallToolResult;

describe("OAuth sign-in, end to end (MCP_HTTP_AUTH=oauth)", () => {
  // Refreshing an expired token without asking again is oauth.test.ts's, on a manual clock.
  it("signs two users in through the SDK's client and runs each on their own key", async () => {
    const bin = await oauthBin();
    const alpha = new SignInWithKey(FAKE_API_KEY);
    const bravo = new SignInWithKey(BRAVO);
    const a = (await connectSignedIn(bin.url, alpha)).client;
    const b = (await connectSignedIn(bin.url, bravo)).client;
    await call(a, "web_search", { query: "alpha" });
    await call(b, "web_search", { query: "bravo" });
    expect(t.fake.requestsTo("/api/web_search").map((r) => r.headers.authorization)).toEqual([
      `Bearer ${FAKE_API_KEY}`,
      `Bearer ${BRAVO}`,
    ]);
    expect(bin.stderr()).not.toContain(FAKE_API_KEY);
    expect(bin.stderr()).not.toContain(BRAVO);
    await a.close();
    await b.close();
  });

  it("shares sign-ins through Redis: a code from one instance is honoured on another, once", async () => {
    const redis = await RedisServer.start();
    try {
      const [portA, portB] = [await freePort(), await freePort()];
      const shared = { OLLAMA_MCP_STORE: redis.url, MCP_PUBLIC_URL: `http://127.0.0.1:${portA}` };
      const a = await oauthBin(shared, portA);
      const b = await oauthBin(shared, portB);
      const baseA = a.origin;
      const baseB = b.origin;
      const client = (await register(baseA)).body as unknown as Registered;
      const { verifier, challenge } = pkce();
      const form = formOf(await (await fetch(authorizeUrl(baseA, client, challenge))).text());
      // The form goes to another instance than the page came from, as a load balancer may send it.
      const answer = await submitForm({ ...form, action: `${baseB}/signin` }, FAKE_API_KEY, {
        origin: baseA,
      });
      expect(answer.status).toBe(303);
      const code = new URL(answer.headers.get("location") as string).searchParams.get("code");
      const tokens = await exchange(baseB, { client, code: code as string, verifier });
      expect(tokens.status).toBe(200);
      expect(await mcpStatus(a.url, tokens.body.access_token as string)).toBe(200);
      const replay = await exchange(baseA, { client, code: code as string, verifier });
      expect(replay.body.error, JSON.stringify(replay.body)).toBe("invalid_grant");
      expect(await mcpStatus(b.url, tokens.body.access_token as string)).toBe(401);

      const store = createClient({ url: redis.url });
      await store.connect();
      const keys = await store.keys("ocm:oauth:*");
      const values = await Promise.all(
        keys.map(async (key) => ((await store.type(key)) === "string" ? store.get(key) : "")),
      );
      await store.close();
      expect(keys.length).toBeGreaterThan(4);
      const everything = [...keys, ...values].join("\n");
      for (const secret of [FAKE_API_KEY, client.client_secret as string, code as string]) {
        expect(everything).not.toContain(secret);
      }
      expect(everything).not.toContain(tokens.body.access_token);
      expect(everything).not.toContain(tokens.body.refresh_token);
    } finally {
      await redis.close();
    }
  });

  it("signs the SDK's client in by its metadata document, served over https, and runs its calls", async () => {
    const documents = await DocumentServer.start();
    const dir = mkdtempSync(join(tmpdir(), "ocm-cimd-ca-"));
    try {
      const ca = join(dir, "ca.pem");
      writeFileSync(ca, documents.ca);
      const bin = await oauthBin({
        MCP_OAUTH_CLIENT_ID_HOSTS: "loopback",
        NODE_EXTRA_CA_CERTS: ca,
      });
      const user = new SignInWithKey(FAKE_API_KEY, fetch, documents.url("/client.json"));
      const { client } = await connectSignedIn(bin.url, user);
      expect(user.callback?.get("iss")).toBe(bin.origin);
      const result = await call(client, "web_search", { query: "signed in by document" });
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(documents.requests).toEqual(["/client.json"]);
      await client.close();
    } finally {
      await documents.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("counts refused keys across instances that share Redis: five in all, not five each", async () => {
    const redis = await RedisServer.start();
    try {
      const [portA, portB] = [await freePort(), await freePort()];
      const shared = { OLLAMA_MCP_STORE: redis.url, MCP_PUBLIC_URL: `http://127.0.0.1:${portA}` };
      const instances = [await oauthBin(shared, portA), await oauthBin(shared, portB)];
      const client = (await register(instances[0]?.origin as string)).body as unknown as Registered;
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const bin = instances[i % 2] as HttpBin;
        const form = formOf(
          await (await fetch(authorizeUrl(bin.origin, client, pkce().challenge))).text(),
        );
        const answer = await submitForm({ ...form, action: `${bin.origin}/signin` }, `wrong-${i}`, {
          origin: instances[0]?.origin as string,
        });
        statuses.push(answer.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
      expect(t.fake.requestsTo("/api/balance")).toHaveLength(5);
    } finally {
      await redis.close();
    }
  });

  it("answers like a store that is down when Redis hangs, within OLLAMA_MCP_STORE_TIMEOUT_MS", async () => {
    const redis = await RedisServer.start();
    try {
      const bin = await oauthBin({
        OLLAMA_MCP_STORE: redis.url,
        OLLAMA_MCP_STORE_TIMEOUT_MS: "500",
      });
      redis.freeze();
      const started = Date.now();
      const registration = await register(bin.origin);
      expect(registration.status).toBe(503);
      expect(registration.body.error_description).toMatch(/no answer within 500 ms/);
      const mcp = await fetch(bin.url, {
        method: "POST",
        headers: { authorization: "Bearer some-token", "content-type": "application/json" },
        body: "{}",
      });
      expect(mcp.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5_000);
      redis.thaw();
    } finally {
      await redis.close();
    }
  });

  it("says the address clients must use: the public URL's", async () => {
    const port = await freePort();
    const bin = await oauthBin({ MCP_PUBLIC_URL: `http://localhost:${port}` }, port);
    expect(bin.stderr()).toContain(
      `Listening on http://localhost:${port}/mcp (bound to 127.0.0.1:${port})`,
    );
  });

  it("lets a real browser fill in the sign-in page and land back on the client with a code", async () => {
    const bin = await oauthBin();
    const landed: string[] = [];
    const callback = await listenOnLoopback(async (req, res) => {
      landed.push(req.url ?? "");
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("signed in");
    });
    const profile = mkdtempSync(join(tmpdir(), "ocm-chromium-"));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    try {
      const redirect = `${callback.url}/callback`;
      const client = (
        await register(bin.origin, { redirect_uris: [redirect], client_name: "Claude" })
      ).body as unknown as Registered;
      const { verifier, challenge } = pkce();
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on("console", (message) => {
        if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
      });
      await page.goto(authorizeUrl(bin.origin, client, challenge));
      await expect(page.title()).resolves.toBe("Sign in · Ollama Cloud MCP");
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "oauth-sign-in.png"), fullPage: true });

      await page.fill("#key", "a-key-ollama-refuses");
      await page.click("button[type=submit]");
      await page.waitForSelector("[role=alert]");
      expect(await page.textContent("[role=alert]")).toContain("did not accept this key");
      await page.screenshot({ path: join(ARTIFACTS, "oauth-sign-in-refused.png"), fullPage: true });

      await page.fill("#key", FAKE_API_KEY);
      await page.click("button[type=submit]");
      await page.waitForURL(`${redirect}?**`);
      expect(await page.textContent("body")).toBe("signed in");
      expect(violations).toEqual([]);
      const back = new URL(page.url());
      expect(landed).toContain(`${back.pathname}${back.search}`);
      expect(back.searchParams.get("state")).toBe("state-123");
      const code = back.searchParams.get("code") as string;
      const tokens = await exchange(bin.origin, {
        client: { ...client, redirect_uris: [redirect] },
        code,
        verifier,
      });
      expect(tokens.status).toBe(200);
      expect(await mcpStatus(bin.url, tokens.body.access_token as string)).toBe(200);
    } finally {
      await browser.close();
      await callback.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it("is reported by Claude Code as needing authentication, not as failing", async () => {
    const bin = await oauthBin();
    const home = mkdtempSync(join(tmpdir(), "ocm-claude-home-"));
    const env = { PATH: process.env.PATH ?? "", HOME: home, DISABLE_AUTOUPDATER: "1" };
    try {
      const claude = (await testTools()).bin("claude");
      await run(claude, ["mcp", "add", "--transport", "http", "ollama-cloud", bin.url], {
        env,
        cwd: home,
      });
      const { stdout } = await run(claude, ["mcp", "list"], { env, cwd: home, timeout: 60_000 });
      expect(stdout).toMatch(/ollama-cloud: .* - ! Needs authentication/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("refuses to start with a setting that cannot work, saying why (exit 2)", async () => {
    const refusal = await run(process.execPath, [BIN, "--http", "--port", "0"], {
      env: binEnv(t.fake, {
        MCP_HTTP_AUTH: "oauth",
        MCP_PUBLIC_URL: "https://mcp.example.com",
        MCP_OAUTH_SECRET: SECRET,
      }),
    }).catch((error: { code: number; stderr: string }) => error);
    expect(refusal).toMatchObject({ code: 2 });
    expect((refusal as { stderr: string }).stderr).toContain("unset OLLAMA_API_KEY");
    expect((refusal as { stderr: string }).stderr).not.toContain(SECRET);
  });
});

describe("the bundle", () => {
  it("holds the SDK's v2 server and no v1 SDK, no deprecated OAuth router, no Express", () => {
    const notices = readFileSync(join(dirname(BIN), "THIRD-PARTY-NOTICES.txt"), "utf8");
    const bundled = [...notices.matchAll(/^(@?[\w.-]+(?:\/[\w.-]+)?)@\S+ \(/gm)].map((m) => m[1]);
    expect(bundled).toContain("@modelcontextprotocol/server");
    for (const absent of [
      "@modelcontextprotocol/sdk",
      "@modelcontextprotocol/server-legacy",
      "express",
    ]) {
      expect(bundled).not.toContain(absent);
    }
  });
});
