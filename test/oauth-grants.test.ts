import { describe, expect, it } from "vitest";
import { Grants, MAX_SIGN_INS_PER_KEY, type SignInRequest } from "../src/oauth/grants.js";
import { Seal } from "../src/oauth/seal.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { ManualClock } from "./manual-clock.js";

const DAY = 24 * 60 * 60_000;
const TIMES = { accessTtlMs: 60 * 60_000, refreshTtlMs: 30 * DAY };

function grants(secret = "a-test-secret-of-more-than-32-bytes-0123456789") {
  const clock = new ManualClock();
  const store = new MemoryStore(clock);
  return { clock, store, grants: new Grants(store, new Seal(secret), clock, TIMES) };
}

const client = (id: string) => ({
  client_id: id,
  client_secret: "a-client-secret",
  redirect_uris: ["https://claude.ai/api/mcp/auth_callback"],
});

function request(clock: ManualClock, clientId: string): SignInRequest {
  return {
    clientId,
    redirectUri: "https://claude.ai/api/mcp/auth_callback",
    codeChallenge: "challenge",
    resource: "https://mcp.example.com/mcp",
    expiresAt: clock.now() + 10 * 60_000,
  };
}

const ID = "0b6c1d9e-2f4a-4b8c-9d0e-1f2a3b4c5d6e";

describe("OAuth grants in the store", () => {
  it("forgets a registration nobody signed in through after a day, and keeps one in use", async () => {
    const { clock, grants: g } = grants();
    const unused = "11111111-2222-4333-8444-555555555555";
    await g.saveClient(client(unused));
    await g.saveClient(client(ID));
    const code = await g.issueCode(request(clock, ID), "ollama-key-alpha");
    await g.redeemCode(ID, code, undefined, undefined);
    expect(await g.client(ID)).toMatchObject({ client_secret: "a-client-secret" });
    clock.advance(DAY + 1);
    expect(await g.client(unused)).toBeUndefined();
    expect(await g.client(ID)).toMatchObject({ client_id: ID });
  });

  it("keeps at most 10,000 registrations nobody signed in through: the oldest goes first", async () => {
    const { clock, grants: g } = grants();
    const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
    for (let n = 0; n <= 10_000; n++) {
      clock.advance(1);
      await g.saveClient(client(id(n)));
    }
    expect(await g.client(id(0))).toBeUndefined();
    expect(await g.client(id(1))).toBeDefined();
    expect(await g.client(id(10_000))).toBeDefined();
  });

  it("keeps a registration whose sign-in page is open, however many registrations come after it", async () => {
    const { clock, grants: g } = grants();
    const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
    await g.saveClient(client(ID));
    await g.startSignIn(request(clock, ID), "192.0.2.1");
    for (let n = 0; n <= 10_000; n++) {
      clock.advance(1);
      await g.saveClient(client(id(n)));
    }
    expect(await g.client(ID)).toMatchObject({ client_id: ID });
    expect(await g.client(id(0))).toBeUndefined();
  });

  it("signs a user out after the refresh period without use, and not while they use it", async () => {
    const { clock, grants: g } = grants();
    await g.saveClient(client(ID));
    const code = await g.issueCode(request(clock, ID), "ollama-key-alpha");
    let tokens = await g.redeemCode(ID, code, undefined, undefined);
    for (let i = 0; i < 3; i++) {
      clock.advance(20 * DAY);
      tokens = await g.refresh(ID, tokens.refresh_token as string, undefined);
    }
    expect(await g.signedIn(tokens.access_token)).toMatchObject({ apiKey: "ollama-key-alpha" });
    clock.advance(TIMES.accessTtlMs);
    expect(await g.signedIn(tokens.access_token)).toBeUndefined();
    clock.advance(30 * DAY);
    await expect(g.refresh(ID, tokens.refresh_token as string, undefined)).rejects.toThrow(
      /unknown or expired/,
    );
  });

  it("holds as much store for a sign-in after a hundred refreshes as after one", async () => {
    class KeyedStore extends MemoryStore {
      readonly written = new Set<string>();
      override async set(key: string, value: string, ttlMs: number) {
        this.written.add(key);
        return super.set(key, value, ttlMs);
      }
      override async setIfAbsent(key: string, value: string, ttlMs: number) {
        this.written.add(key);
        return super.setIfAbsent(key, value, ttlMs);
      }
    }
    const clock = new ManualClock();
    const store = new KeyedStore(clock);
    const g = new Grants(
      store,
      new Seal("a-test-secret-of-more-than-32-bytes-0123456789"),
      clock,
      TIMES,
    );
    const live = async () =>
      (await Promise.all([...store.written].map((key) => store.get(key)))).filter(
        (value) => value !== undefined,
      ).length;
    await g.saveClient(client(ID));
    let tokens = await g.redeemCode(
      ID,
      await g.issueCode(request(clock, ID), "ollama-key-alpha"),
      undefined,
      undefined,
    );
    tokens = await g.refresh(ID, tokens.refresh_token as string, undefined);
    clock.advance(10 * 60_000);
    const afterOne = await live();
    for (let i = 0; i < 100; i++) {
      tokens = await g.refresh(ID, tokens.refresh_token as string, undefined);
    }
    clock.advance(10 * 60_000);
    expect(await live()).toBe(afterOne);
    expect(await g.signedIn(tokens.access_token)).toMatchObject({ apiKey: "ollama-key-alpha" });
  });

  it("ends a sign-in when a refresh token it rotated away comes back, however much later", async () => {
    const { clock, grants: g } = grants();
    await g.saveClient(client(ID));
    const first = await g.redeemCode(
      ID,
      await g.issueCode(request(clock, ID), "ollama-key-alpha"),
      undefined,
      undefined,
    );
    const second = await g.refresh(ID, first.refresh_token as string, undefined);
    clock.advance(10 * DAY);
    await expect(g.refresh(ID, first.refresh_token as string, undefined)).rejects.toThrow(
      /already used/,
    );
    expect(await g.signedIn(second.access_token)).toBeUndefined();
    await expect(g.refresh(ID, second.refresh_token as string, undefined)).rejects.toThrow(
      /unknown or expired/,
    );
  });

  it(`keeps ${MAX_SIGN_INS_PER_KEY} sign-ins per key: the least recently used goes first`, async () => {
    const { clock, grants: g } = grants();
    await g.saveClient(client(ID));
    const signIn = async (key: string) => {
      clock.advance(1);
      return g.redeemCode(ID, await g.issueCode(request(clock, ID), key), undefined, undefined);
    };
    const first = await signIn("ollama-key-alpha");
    const other = await signIn("ollama-key-bravo");
    const rest = [];
    for (let i = 1; i < MAX_SIGN_INS_PER_KEY; i++) rest.push(await signIn("ollama-key-alpha"));
    expect(await g.signedIn(first.access_token)).toBeDefined();
    await signIn("ollama-key-alpha");
    expect(await g.signedIn(first.access_token)).toBeUndefined();
    expect(await g.signedIn((rest[0] as { access_token: string }).access_token)).toBeDefined();
    expect(await g.signedIn(other.access_token)).toBeDefined();
  });

  it("honours one of two exchanges of a code made at once, and ends the sign-in: the code was stolen", async () => {
    const { clock, grants: g } = grants();
    await g.saveClient(client(ID));
    const code = await g.issueCode(request(clock, ID), "ollama-key-alpha");
    const [first, second] = await Promise.allSettled([
      g.redeemCode(ID, code, undefined, undefined),
      g.redeemCode(ID, code, undefined, undefined),
    ]);
    expect(first.status).toBe("fulfilled");
    expect(second).toMatchObject({ status: "rejected", reason: { message: /already used/ } });
    const tokens = (first as PromiseFulfilledResult<{ access_token: string }>).value;
    expect(await g.signedIn(tokens.access_token)).toBeUndefined();
    clock.advance(10 * 60_000);
    expect(await g.signedIn(tokens.access_token)).toBeUndefined();
  });

  it("signs everyone out when the secret changes", async () => {
    const { clock, store, grants: g } = grants();
    await g.saveClient(client(ID));
    const tokens = await g.redeemCode(
      ID,
      await g.issueCode(request(clock, ID), "ollama-key-alpha"),
      undefined,
      undefined,
    );
    const rotated = new Grants(
      store,
      new Seal("another-secret-of-more-than-32-bytes-9876"),
      clock,
      TIMES,
    );
    expect(await rotated.signedIn(tokens.access_token)).toBeUndefined();
    expect(await rotated.client(ID)).toBeUndefined();
  });

  it("takes a sign-in page's nonce once, and never after the page expired", async () => {
    const { clock, grants: g } = grants();
    const nonce = await g.startSignIn(request(clock, ID));
    expect(await g.takeSignIn(nonce)).toMatchObject({ clientId: ID });
    expect(await g.takeSignIn(nonce)).toBeUndefined();
    const late = await g.startSignIn(request(clock, ID));
    clock.advance(10 * 60_000);
    expect(await g.takeSignIn(late)).toBeUndefined();
  });
});
