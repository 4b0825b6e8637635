import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import type { CallToolResult } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it } from "vitest";
import { parseCli } from "../src/cli.js";
import { systemClock } from "../src/clock.js";
import { compose } from "../src/compose.js";
import { type RunningHttpServer, startHttpServer } from "../src/http/server.js";
import type { MetadataFetching } from "../src/oauth/client-metadata.js";
import { MAX_PENDING_PER_GROUP } from "../src/oauth/grants.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { type Store, StoreUnavailableError } from "../src/store/store.js";
import { createUpstream } from "../src/upstream/upstream.js";
import { DocumentServer } from "./document-server.js";
import { FAKE_API_KEY } from "./fake-ollama-cloud.js";
import { textOf, useFake } from "./harness.js";
import { freePort } from "./loopback-server.js";
import { ManualClock } from "./manual-clock.js";
import {
  authorizeUrl,
  CALLBACK,
  connectSignedIn,
  exchange,
  formOf,
  mcpStatus,
  pkce,
  type Registered,
  register,
  SignInWithKey,
  signIn,
  submitForm,
  tokenRequest,
} from "./oauth-client.js";

const SECRET = "a-test-secret-of-more-than-32-bytes-0123456789";
const BRAVO = "ollama-key-bravo-7d1e54";

/** A memory store that remembers everything written to it, to look for secrets in. */
class RecordingStore extends MemoryStore {
  readonly written: string[] = [];
  down = false;

  override async get(key: string) {
    if (this.down) throw new StoreUnavailableError("The job store cannot be reached right now.");
    return super.get(key);
  }
  override async set(key: string, value: string, ttlMs: number) {
    this.written.push(key, value);
    return super.set(key, value, ttlMs);
  }
  override async setIfAbsent(key: string, value: string, ttlMs: number) {
    this.written.push(key, value);
    return super.setIfAbsent(key, value, ttlMs);
  }
}

const cloud = useFake();
const running: RunningHttpServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

interface OAuthServer {
  base: string;
  url: string;
  clock: ManualClock;
  store: RecordingStore;
}

/**
 * The HTTP server in this process with MCP_HTTP_AUTH=oauth, on a port chosen first (the public
 * URL names it), its time on a manual clock that starts at the real time (the SDK's bearer
 * check reads the real one).
 */
async function oauthServer(
  env: Record<string, string> = {},
  shared: { store?: RecordingStore; clock?: ManualClock; clientMetadata?: MetadataFetching } = {},
): Promise<OAuthServer> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const clock = shared.clock ?? new ManualClock(Date.now());
  const action = parseCli(["--http", "--port", String(port)], {
    MCP_HTTP_AUTH: "oauth",
    MCP_PUBLIC_URL: base,
    MCP_OAUTH_SECRET: SECRET,
    OLLAMA_CLOUD_HOST: cloud.fake.url,
    OLLAMA_CLOUD_RETRIES: "0",
    ...env,
  });
  if (action.kind !== "serve") throw new Error("not a serve action");
  const { config, http } = action;
  const store = shared.store ?? new RecordingStore(clock);
  const services = await compose({
    config,
    transport: "http",
    log: { log: () => {} },
    clock,
    store,
    // The key check goes to the fake in real time; the grants' times are on the manual clock.
    upstream: createUpstream({ config, clock: systemClock }),
  });
  const server = await startHttpServer({
    options: http,
    createMcpServer: () => services.newServer(),
    log: { log: () => {} },
    clock,
    signIn: {
      store,
      checkKey: (key, options) => services.upstream.checkKey(key, options),
      ...(shared.clientMetadata && { clientMetadata: shared.clientMetadata }),
    },
  });
  running.push(server);
  return { base, url: `${base}/mcp`, clock, store };
}

const call = async (
  client: { callTool(p: { name: string; arguments: Record<string, unknown> }): Promise<unknown> },
  name: string,
  args: Record<string, unknown>,
) => (await client.callTool({ name, arguments: args })) as CallToolResult;

describe("OAuth sign-in with an Ollama key (MCP_HTTP_AUTH=oauth)", () => {
  it("publishes its metadata, and answers /mcp without a token with a 401 that points at it", async () => {
    const { base, url } = await oauthServer();
    const resource = await (await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(resource).toMatchObject({ resource: url, authorization_servers: [base] });
    const server = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
    expect(server).toMatchObject({
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      registration_endpoint: `${base}/register`,
      revocation_endpoint: `${base}/revoke`,
      code_challenge_methods_supported: ["S256"],
      grant_types_supported: ["authorization_code", "refresh_token"],
    });
    const anonymous = await fetch(url, { method: "POST", body: "{}" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain(
      `resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it("lets the SDK's client register, sign in with the user's key, call tools on it, and refresh without asking again", async () => {
    const { url, clock } = await oauthServer({ MCP_OAUTH_ACCESS_TTL_MS: "60000" });
    const user = new SignInWithKey(FAKE_API_KEY);
    const { client } = await connectSignedIn(url, user);
    await call(client, "web_search", { query: "first" });
    expect(cloud.fake.requestsTo("/api/web_search")[0]?.headers.authorization).toBe(
      `Bearer ${FAKE_API_KEY}`,
    );
    const firstToken = user.tokens()?.access_token;

    clock.advance(61_000);
    const later = await call(client, "web_search", { query: "after the token expired" });
    expect(later.isError, textOf(later)).toBeFalsy();
    expect(user.signIns).toBe(1);
    expect(user.tokens()?.access_token).not.toBe(firstToken);
    expect(cloud.fake.requestsTo("/api/balance")).toHaveLength(1);
    await client.close();
  });

  it("makes each signed-in user a caller of their own: their key upstream, their jobs and conversations", async () => {
    cloud.fake.otherKeys = [BRAVO];
    const { url, clock } = await oauthServer({ OLLAMA_MCP_DEFER_AFTER_MS: "200" });
    const alpha = (await connectSignedIn(url, new SignInWithKey(FAKE_API_KEY))).client;
    const bravo = (await connectSignedIn(url, new SignInWithKey(BRAVO))).client;
    await call(alpha, "web_search", { query: "alpha" });
    await call(bravo, "web_search", { query: "bravo" });
    expect(cloud.fake.requestsTo("/api/web_search").map((r) => r.headers.authorization)).toEqual([
      `Bearer ${FAKE_API_KEY}`,
      `Bearer ${BRAVO}`,
    ]);

    const chat = (await call(alpha, "cloud_chat", { prompt: "alpha's secret" })).structuredContent;
    const stolen = await call(bravo, "cloud_chat", {
      prompt: "go on",
      conversation_id: (chat as { conversation_id: string }).conversation_id,
    });
    expect(textOf(stolen)).toMatch(/^Unknown conversation_id/);

    cloud.fake.inject("chat", { hang: true });
    const calling = call(alpha, "cloud_chat", { prompt: "alpha's job" });
    await clock.sleeping(200, 200);
    clock.advance(200);
    const deferred = await calling;
    const jobId = (deferred.structuredContent as { job_id: string }).job_id;
    expect(jobId, textOf(deferred)).toMatch(/^job_/);
    const peek = await call(bravo, "get_result", { job_id: jobId, wait_ms: 0 });
    expect(textOf(peek)).toMatch(/^Unknown job_id/);
    expect(textOf(await call(bravo, "cancel_job", { job_id: jobId }))).toMatch(/^Unknown job_id/);
    await call(alpha, "cancel_job", { job_id: jobId });
    await alpha.close();
    await bravo.close();
  });

  describe("registration", () => {
    it.each([
      ["https://evil.example/callback", /host evil\.example is not one/],
      ["http://claude.ai/api/mcp/auth_callback", /use https:\/\//],
      ["https://claude.ai/api/mcp/auth_callback#x", /must not have a fragment/],
      [
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        /cursor:\/\/anysphere.* is not allowed/,
      ],
      ["http://192.168.1.5:8080/callback", /use https:\/\//],
      ["not a url", /is not a URL/],
    ])("refuses the redirect URI %s", async (uri, why) => {
      const { base } = await oauthServer();
      const answer = await register(base, { redirect_uris: [uri] });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatch(/invalid_redirect_uri|invalid_client_metadata/);
      if (answer.body.error === "invalid_redirect_uri") {
        expect(answer.body.error_description).toMatch(why);
      }
    });

    it("accepts the known connectors' callbacks and loopback on any port, and only those listed", async () => {
      const { base } = await oauthServer();
      for (const uri of [
        "https://claude.ai/api/mcp/auth_callback",
        "https://claude.com/api/mcp/auth_callback",
        "https://chatgpt.com/connector_platform_oauth_redirect",
        "http://localhost:6274/oauth/callback",
        "http://127.0.0.1:53682/callback",
      ]) {
        expect((await register(base, { redirect_uris: [uri] })).status, uri).toBe(201);
      }
      const narrow = await oauthServer({ MCP_OAUTH_REDIRECT_HOSTS: "claude.ai" });
      const chatgpt = await register(narrow.base, {
        redirect_uris: ["https://chatgpt.com/connector_platform_oauth_redirect"],
      });
      expect(chatgpt.body.error_description).toMatch(/MCP_OAUTH_REDIRECT_HOSTS: claude\.ai/);
      const loopback = await register(narrow.base, { redirect_uris: [CALLBACK] });
      expect(loopback.body.error_description).toMatch(/does not list loopback/);
    });

    it("takes registrations for a whole team from one address, as claude.ai's servers send them", async () => {
      const { base } = await oauthServer();
      const statuses = [];
      for (let i = 0; i < 30; i++) statuses.push((await register(base)).status);
      expect(statuses).toEqual(Array(30).fill(201));
    });

    it("answers the token endpoint with 401 invalid_client for a registration that is gone", async () => {
      const { base, store } = await oauthServer();
      const { client, code, verifier } = await signIn(base, FAKE_API_KEY);
      await store.delete(`ocm:oauth:client:${client.client_id}`);
      const answer = await exchange(base, { client, code, verifier });
      expect(answer).toMatchObject({ status: 401, body: { error: "invalid_client" } });
    });
  });

  describe("attacks", () => {
    it("never redirects to a redirect URI the client did not register", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const page = await fetch(
        authorizeUrl(base, client, pkce().challenge, {
          redirect_uri: "http://127.0.0.1:38211/elsewhere",
        }),
        { redirect: "manual" },
      );
      expect(page.status).toBe(400);
      expect(page.headers.get("location")).toBeNull();
      expect(await page.json()).toMatchObject({ error: "invalid_request" });
    });

    it("honours a code once: used again, it is refused and the sign-in it started ends", async () => {
      const { base, url } = await oauthServer();
      const signedIn = await signIn(base, FAKE_API_KEY);
      const first = await exchange(base, signedIn);
      expect(first.status).toBe(200);
      expect(await mcpStatus(url, first.body.access_token as string)).toBe(200);
      const again = await exchange(base, signedIn);
      expect(again).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
      expect(await mcpStatus(url, first.body.access_token as string)).toBe(401);
      const refreshed = await tokenRequest(base, signedIn.client, {
        grant_type: "refresh_token",
        refresh_token: first.body.refresh_token as string,
      });
      expect(refreshed.body.error).toBe("invalid_grant");
    });

    it("refuses one client's code or refresh token to another client", async () => {
      const { base, url } = await oauthServer();
      const signedIn = await signIn(base, FAKE_API_KEY);
      const other = (await register(base)).body as unknown as Registered;
      const stolenCode = await exchange(base, { ...signedIn, client: other });
      expect(stolenCode).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
      const tokens = (await exchange(base, signedIn)).body;
      const stolenRefresh = await tokenRequest(base, other, {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token as string,
      });
      expect(stolenRefresh).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
      expect(await mcpStatus(url, tokens.access_token as string)).toBe(200);
    });

    it("refuses a code with the wrong PKCE verifier", async () => {
      const { base } = await oauthServer();
      const signedIn = await signIn(base, FAKE_API_KEY);
      const answer = await exchange(base, { ...signedIn, verifier: pkce().verifier });
      expect(answer).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
    });

    it("issues tokens for this server's /mcp only", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const elsewhere = await fetch(
        authorizeUrl(base, client, pkce().challenge, { resource: "https://other.example/mcp" }),
        { redirect: "manual" },
      );
      expect(elsewhere.status).toBe(302);
      const back = new URL(elsewhere.headers.get("location") as string);
      expect(back.origin + back.pathname).toBe(CALLBACK);
      expect(back.searchParams.get("error")).toBe("invalid_target");
      expect(back.searchParams.get("state")).toBe("state-123");

      const signedIn = await signIn(base, FAKE_API_KEY);
      const answer = await tokenRequest(base, signedIn.client, {
        grant_type: "authorization_code",
        code: signedIn.code,
        code_verifier: signedIn.verifier,
        redirect_uri: CALLBACK,
        resource: "https://other.example/mcp",
      });
      expect(answer).toMatchObject({ status: 400, body: { error: "invalid_target" } });
    });

    it("refuses a token issued for another server that shares its store and secret", async () => {
      const clock = new ManualClock(Date.now());
      const store = new RecordingStore(clock);
      const one = await oauthServer({}, { store, clock });
      const two = await oauthServer({}, { store, clock });
      const tokens = (await exchange(one.base, await signIn(one.base, FAKE_API_KEY))).body;
      expect(await mcpStatus(one.url, tokens.access_token as string)).toBe(200);
      const answer = await fetch(two.url, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
      expect(answer.status).toBe(401);
      expect(await answer.json()).toMatchObject({
        error: "invalid_token",
        error_description: "Token was not issued for this resource",
      });
    });

    it("issues no code for a key ollama.com refuses, and shows the form again", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const page = await fetch(authorizeUrl(base, client, pkce().challenge));
      const answer = await submitForm(formOf(await page.text()), "not-a-real-key");
      expect(answer.status).toBe(401);
      expect(answer.headers.get("location")).toBeNull();
      const html = await answer.text();
      expect(html).toContain("ollama.com did not accept this key");
      expect(formOf(html).nonce).toBeTruthy();
      expect(cloud.fake.requestsTo("/api/balance").map((r) => r.headers.authorization)).toEqual([
        "Bearer not-a-real-key",
      ]);
    });

    it("refuses the form without its nonce, with a used one, or sent from another site, asking ollama.com nothing", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const form = formOf(await (await fetch(authorizeUrl(base, client, pkce().challenge))).text());
      const noNonce = await submitForm({ ...form, nonce: "" }, FAKE_API_KEY);
      expect(noNonce.status).toBe(400);
      expect(await noNonce.text()).toContain("expired or was already sent");
      const forged = await submitForm(form, FAKE_API_KEY, { origin: "https://evil.example" });
      expect(forged.status).toBe(403);
      expect(cloud.fake.requestsTo("/api/balance")).toHaveLength(0);

      expect((await submitForm(form, FAKE_API_KEY)).status).toBe(303);
      const replayed = await submitForm(form, FAKE_API_KEY);
      expect(replayed.status).toBe(400);
      expect(replayed.headers.get("location")).toBeNull();
      expect(cloud.fake.requestsTo("/api/balance")).toHaveLength(1);
    });

    it("makes an address wait after five refused keys, without asking ollama.com", async () => {
      const { base, clock } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      let form = formOf(await (await fetch(authorizeUrl(base, client, pkce().challenge))).text());
      const attempt = async (key: string) => {
        const answer = await submitForm(form, key);
        const html = await answer.text();
        if (answer.status !== 303) form = formOf(html);
        return { status: answer.status, html, retryAfter: answer.headers.get("retry-after") };
      };
      for (let i = 0; i < 5; i++) expect((await attempt(`wrong-${i}`)).status).toBe(401);
      const waiting = await attempt(FAKE_API_KEY);
      expect(waiting).toMatchObject({ status: 429, retryAfter: "1" });
      expect(waiting.html).toContain("Too many keys were refused");
      expect(cloud.fake.requestsTo("/api/balance")).toHaveLength(5);
      clock.advance(1_000);
      expect((await attempt(FAKE_API_KEY)).status).toBe(303);
    });

    it.each(["/token", "/register", "/authorize", "/revoke", "/signin"])(
      "cuts off a body on %s that does not arrive within MCP_HTTP_BODY_TIMEOUT_MS",
      async (path) => {
        const { base, clock } = await oauthServer({ MCP_HTTP_BODY_TIMEOUT_MS: "300" });
        const { port } = new URL(base);
        const socket = connect(Number(port), "127.0.0.1");
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type`,
        );
        let answer = "";
        socket.on("data", (chunk: Buffer) => {
          answer += chunk.toString();
        });
        // The body's deadline is on the server's clock: once it passes, the server answers and
        // closes the connection itself, and the drip holds nothing.
        const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
        await clock.sleeping(300, 300);
        clock.advance(300);
        await closed;
        expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      },
    );

    it("lets at most five of a burst of wrong keys from one address reach ollama.com", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const forms = await Promise.all(
        Array.from({ length: 20 }, async () =>
          formOf(await (await fetch(authorizeUrl(base, client, pkce().challenge))).text()),
        ),
      );
      cloud.fake.latency.balance = 200;
      const statuses = await Promise.all(
        forms.map(async (form, i) => (await submitForm(form, `wrong-${i}`)).status),
      );
      const refused = statuses.filter((s) => s === 401).length;
      expect(refused).toBeGreaterThan(0);
      expect(refused).toBeLessThanOrEqual(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20 - refused);
      expect(cloud.fake.requestsTo("/api/balance")).toHaveLength(refused);
    });

    it("caps the sign-in pages open from one address, and keeps state short", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const open = async (extra: Record<string, string> = {}) =>
        (await fetch(authorizeUrl(base, client, pkce().challenge, extra), { redirect: "manual" }))
          .status;
      const long = await fetch(
        authorizeUrl(base, client, pkce().challenge, { state: "s".repeat(1_025) }),
        {
          redirect: "manual",
        },
      );
      expect(long.status).toBe(400);
      expect(long.headers.get("location")).toBeNull();
      expect(((await long.json()) as { error_description: string }).error_description).toMatch(
        /state is longer than 1024 characters/,
      );
      const statuses: number[] = [];
      for (let i = 0; i < MAX_PENDING_PER_GROUP + 1; i++) statuses.push(await open());
      expect(statuses.slice(0, MAX_PENDING_PER_GROUP)).toEqual(
        Array(MAX_PENDING_PER_GROUP).fill(200),
      );
      expect(statuses.at(-1)).toBe(503);
    });

    it("asks the token request for the redirect_uri the authorization request named", async () => {
      const { base } = await oauthServer();
      const signedIn = await signIn(base, FAKE_API_KEY);
      const without = await tokenRequest(base, signedIn.client, {
        grant_type: "authorization_code",
        code: signedIn.code,
        code_verifier: signedIn.verifier,
      });
      expect(without).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
      expect(without.body.error_description).toMatch(/redirect_uri is missing.*RFC 6749/);
    });

    it("refuses a redirect URI with an empty fragment, and an auth method it does not have", async () => {
      const { base } = await oauthServer();
      const fragment = await register(base, { redirect_uris: ["https://claude.ai/cb#"] });
      expect(fragment.body.error_description).toMatch(/must not have a fragment/);
      const jwt = await register(base, { token_endpoint_auth_method: "private_key_jwt" });
      expect(jwt).toMatchObject({ status: 400, body: { error: "invalid_client_metadata" } });
      expect(jwt.body.error_description).toMatch(/private_key_jwt is not supported/);
    });

    it("strips control and bidi characters from a registered client's name, and caps it", async () => {
      const { base } = await oauthServer();
      const client = (
        await register(base, { client_name: `Evil \u202emoc.elgoog\u0000 ${"x".repeat(200)}` })
      ).body as unknown as Registered & { client_name: string };
      expect(client.client_name).not.toMatch(/[\p{Cc}\u202a-\u202e]/u);
      expect(client.client_name.length).toBeLessThanOrEqual(80);
      const page = await (await fetch(authorizeUrl(base, client, pkce().challenge))).text();
      expect(page).toContain("Evil moc.elgoog");
    });

    it("says what is wrong with PKCE in a sentence, not a validation dump", async () => {
      const { base } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const missing = await fetch(
        authorizeUrl(base, client, "", { code_challenge_method: "plain" }),
        {
          redirect: "manual",
        },
      );
      const back = new URL(missing.headers.get("location") as string);
      expect(back.searchParams.get("error")).toBe("invalid_request");
      expect(back.searchParams.get("error_description")).toBe(
        "PKCE is required: send code_challenge (43 characters, base64url) with code_challenge_method=S256.",
      );
      expect(back.searchParams.get("iss")).toBe(base);
      const signedIn = await signIn(base, FAKE_API_KEY);
      const short = await exchange(base, { ...signedIn, verifier: "too-short" });
      expect(short.body.error_description).toMatch(
        /^code_verifier is missing or not a PKCE verifier \(43 to 128 characters/,
      );
      expect(short.body.error_description).not.toMatch(/[{[]/);
    });

    it("answers /token during a store outage with a 503 that names the store", async () => {
      const { base, store } = await oauthServer();
      const signedIn = await signIn(base, FAKE_API_KEY);
      store.down = true;
      const answer = await exchange(base, signedIn);
      expect(answer).toMatchObject({ status: 503, body: { error: "temporarily_unavailable" } });
      expect(answer.body.error_description).toMatch(/store, which cannot be reached/);
    });

    it("refuses a Host that is neither the public URL's nor loopback, and closes a 401 on /mcp", async () => {
      const { base, url } = await oauthServer();
      expect(await statusWithHost(url, "evil.example")).toBe(403);
      const anonymous = await fetch(url, { method: "POST", body: "{}" });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("connection")).toBe("close");
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:/);
    });

    it("answers an oversized token request in OAuth's own form, without reading it all", async () => {
      const { base } = await oauthServer();
      const answer = await fetch(`${base}/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `grant_type=refresh_token&refresh_token=${"x".repeat(64 * 1024)}`,
      });
      expect(answer.status).toBe(413);
      expect(await answer.json()).toMatchObject({ error: "invalid_request" });
    });

    it("signs out on revocation: the access token stops working", async () => {
      const { base, url } = await oauthServer();
      const signedIn = await signIn(base, FAKE_API_KEY);
      const tokens = (await exchange(base, signedIn)).body;
      const answer = await fetch(`${base}/revoke`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          client_id: signedIn.client.client_id,
          client_secret: signedIn.client.client_secret as string,
          token: tokens.refresh_token as string,
        }).toString(),
      });
      expect(answer.status).toBe(200);
      expect(await mcpStatus(url, tokens.access_token as string)).toBe(401);
    });

    it("keeps no key, token, code, nonce or client secret in the store in plaintext", async () => {
      const { base, store } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const { verifier, challenge } = pkce();
      const form = formOf(await (await fetch(authorizeUrl(base, client, challenge))).text());
      const answer = await submitForm(form, FAKE_API_KEY);
      const code = new URL(answer.headers.get("location") as string).searchParams.get("code");
      const tokens = (await exchange(base, { client, code: code as string, verifier })).body;
      const refreshed = (
        await tokenRequest(base, client, {
          grant_type: "refresh_token",
          refresh_token: tokens.refresh_token as string,
        })
      ).body;
      const secrets = [
        FAKE_API_KEY,
        client.client_secret as string,
        form.nonce,
        code as string,
        tokens.access_token as string,
        tokens.refresh_token as string,
        refreshed.access_token as string,
        refreshed.refresh_token as string,
      ];
      expect(store.written.length).toBeGreaterThan(10);
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThan(8);
        expect(store.written.filter((entry) => entry.includes(secret))).toEqual([]);
      }
    });
  });

  describe("the sign-in page", () => {
    it("needs no script or outside asset, cannot be framed, and says who asks, where it returns, and what is kept", async () => {
      const { base } = await oauthServer();
      const client = (
        await register(base, {
          client_name: 'Claude <script>alert("x")</script>',
          redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
        })
      ).body as unknown as Registered;
      const page = await fetch(authorizeUrl(base, client, pkce().challenge));
      expect(page.status).toBe(200);
      const csp = page.headers.get("content-security-policy") as string;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("form-action 'self' https://claude.ai");
      expect(csp).not.toContain("unsafe-inline");
      expect(page.headers.get("x-frame-options")).toBe("DENY");
      expect(page.headers.get("cache-control")).toBe("no-store");
      const html = await page.text();
      expect(html).not.toMatch(/<script|src=|@import|url\(/i);
      expect(html).toContain("Claude &#60;script&#62;");
      expect(html).toContain("You will go back to <strong>claude.ai</strong>");
      expect(html).toContain('href="https://ollama.com/settings/keys"');
      expect(html).toContain("kept encrypted on this server");
      expect(html).toContain("30 days");
      expect(formOf(html).action).toBe(`${base}/signin`);
    });

    it("says so when the store cannot be reached, and issues nothing", async () => {
      const { base, store } = await oauthServer();
      const client = (await register(base)).body as unknown as Registered;
      const form = formOf(await (await fetch(authorizeUrl(base, client, pkce().challenge))).text());
      store.down = true;
      const answer = await submitForm(form, FAKE_API_KEY);
      expect(answer.status).toBe(503);
      expect(await answer.text()).toContain("Signing in is not possible right now");
      expect(cloud.fake.requestsTo("/api/balance")).toHaveLength(0);
    });
  });
});

interface OAuthErrorBody {
  error: string;
  error_description: string;
}

describe("clients named by their metadata document (CIMD)", () => {
  let documents: DocumentServer;
  afterEach(async () => {
    await documents?.close();
  });

  /** A server that takes loopback clients, and trusts the document server's certificate. */
  const cimdServer = async (env: Record<string, string> = {}) => {
    documents = await DocumentServer.start();
    return oauthServer(
      { MCP_OAUTH_CLIENT_ID_HOSTS: "loopback", ...env },
      { clientMetadata: { ca: documents.ca } },
    );
  };

  const authorizeAs = (base: string, clientId: string, redirect = CALLBACK) =>
    fetch(
      authorizeUrl(base, { client_id: clientId, redirect_uris: [redirect] }, pkce().challenge),
      { redirect: "manual" },
    );

  it("says it takes them, and lets the SDK's client sign in by one and call a tool as its user", async () => {
    const { base, url } = await cimdServer();
    const metadata = (await (
      await fetch(`${base}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
      token_endpoint_auth_methods_supported: expect.arrayContaining(["none"]),
    });
    const resource = (await (
      await fetch(`${base}/.well-known/oauth-protected-resource/mcp`)
    ).json()) as Record<string, unknown>;
    expect(resource.authorization_servers).toEqual([metadata.issuer]);

    const user = new SignInWithKey(FAKE_API_KEY, fetch, documents.url("/client.json"));
    const { client } = await connectSignedIn(url, user);
    expect(user.callback?.get("iss")).toBe(metadata.issuer);
    const result = await call(client, "web_search", { query: "by metadata document" });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(cloud.fake.requestsTo("/api/web_search")[0]?.headers.authorization).toBe(
      `Bearer ${FAKE_API_KEY}`,
    );
    expect(documents.requests).toEqual(["/client.json"]);
    await client.close();
  });

  it("shows the document's client name on the sign-in page, without its control characters", async () => {
    const { base } = await cimdServer();
    const page = await authorizeAs(base, documents.url("/bidi.json"));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<strong>Evil App moc.elgoog</strong>");
    expect(html).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  });

  it.each([
    ["/other-id.json", /names another client_id/],
    ["/redirect.json", /redirect \(302\), which is not followed/],
    ["/big.json", /larger than 5120 bytes/],
    ["/evil-redirect.json", /host evil\.example is not one/],
    ["/not-found.json", /answered 404/],
  ])("refuses the document at %s, saying why, and redirects nowhere", async (path, why) => {
    const { base } = await cimdServer();
    const answer = await authorizeAs(base, documents.url(path));
    expect(answer.status).toBe(400);
    expect(answer.headers.get("location")).toBeNull();
    const body = (await answer.json()) as OAuthErrorBody;
    expect(body.error).toBe("invalid_client");
    expect(body.error_description).toMatch(why);
  });

  it("refuses an http:// client id, and a loopback one unless MCP_OAUTH_CLIENT_ID_HOSTS lists loopback", async () => {
    const { base } = await cimdServer({ MCP_OAUTH_CLIENT_ID_HOSTS: "" });
    const plain = await authorizeAs(base, documents.url("/client.json").replace("https:", "http:"));
    expect(((await plain.json()) as OAuthErrorBody).error_description).toMatch(
      /must be https:\/\//,
    );
    const loopback = await authorizeAs(base, documents.url("/client.json"));
    expect(((await loopback.json()) as OAuthErrorBody).error_description).toMatch(
      /does not list loopback/,
    );
    expect(documents.requests).toEqual([]);
  });

  it("refuses a public host's document served from a private address (checked where it connects)", async () => {
    documents = await DocumentServer.start();
    const { base } = await oauthServer(
      {},
      // The name resolves to loopback: a rebinding attack on a public-looking name.
      {
        clientMetadata: {
          ca: documents.ca,
          resolve: async () => [{ address: "127.0.0.1", family: 4 }],
        },
      },
    );
    const answer = await authorizeAs(
      base,
      `https://docs.example.com:${documents.port}/client.json`,
    );
    expect(((await answer.json()) as OAuthErrorBody).error_description).toMatch(
      /does not resolve to a public address/,
    );
    expect(documents.requests).toEqual([]);
  });

  it("signs Claude Code in through its pinned document when the live one cannot be fetched, on any loopback port", async () => {
    const { base } = await oauthServer(
      {},
      // No internet here, as on a machine without it, or behind claude.ai's edge challenge.
      {
        clientMetadata: {
          resolve: () => Promise.reject(new Error("getaddrinfo ENOTFOUND claude.ai")),
        },
      },
    );
    const id = "https://claude.ai/oauth/claude-code-client-metadata";
    for (const redirect of ["http://127.0.0.1:53682/callback", "http://localhost:41999/callback"]) {
      const page = await authorizeAs(base, id, redirect);
      expect(page.status, redirect).toBe(200);
      expect(await page.text()).toContain("<strong>Claude Code</strong>");
    }
    const elsewhere = await authorizeAs(base, id, "http://127.0.0.1:53682/elsewhere");
    expect(elsewhere.status).toBe(400);
  });
});

describe("an HTTP server without OAuth", () => {
  it("keeps answering OAuth discovery with a plain 404 that says how to get in", async () => {
    const port = await freePort();
    const action = parseCli(["--http", "--port", String(port)], {
      OLLAMA_API_KEY: FAKE_API_KEY,
      OLLAMA_CLOUD_HOST: cloud.fake.url,
    });
    if (action.kind !== "serve") throw new Error("not a serve action");
    const store: Store = new MemoryStore(systemClock);
    const server = await startHttpServer({
      options: action.http,
      createMcpServer: () => {
        throw new Error("not reached");
      },
      log: { log: () => {} },
      signIn: { store, checkKey: async () => {} },
    });
    running.push(server);
    const answer = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
    expect(answer.status).toBe(404);
    expect(answer.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await answer.text()).toMatch(/does not use OAuth/);
  });
});

/** A POST with a Host header of our choosing, which fetch would not send. */
function statusWithHost(url: string, host: string): Promise<number> {
  const to = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: to.hostname, port: to.port, path: to.pathname, method: "POST", headers: { host } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
}
