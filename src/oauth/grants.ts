import type { OAuthClientInformationFull, OAuthTokens } from "@modelcontextprotocol/server";
import * as z from "zod";
import { keyOwner } from "../caller.js";
import type { Clock } from "../clock.js";
import { randomId, randomToken } from "../random-id.js";
import { readStored, type Store } from "../store/store.js";
import type { Seal } from "./seal.js";

/** A code is exchanged as soon as the client has it. */
const CODE_TTL_MS = 60_000;
/**
 * Longer than any exchange takes: what keeps two exchanges racing for one token apart (a claim,
 * the mark of an ended sign-in) lasts this long, and no longer.
 */
const RACE_TTL_MS = 5 * 60_000;
/** How long a sign-in page may stay open before it is submitted. */
export const SIGN_IN_TTL_MS = 10 * 60_000;
/** A registration nobody has signed in through is forgotten after a day... */
const UNCLAIMED_CLIENT_TTL_MS = 24 * 60 * 60_000;
/** ...and only this many are kept: registration needs no credentials. */
const MAX_UNCLAIMED_CLIENTS = 10_000;
/** Sign-ins one Ollama key keeps at once; the least recently used is signed out first. */
export const MAX_SIGN_INS_PER_KEY = 20;
/** Sign-in pages open at once, in all, and from one address (or IPv6 /56). */
export const MAX_PENDING = 10_000;
export const MAX_PENDING_PER_GROUP = 30;

export interface GrantTimes {
  accessTtlMs: number;
  refreshTtlMs: number;
}

/** What a valid access token stands for. */
export interface SignedIn {
  clientId: string;
  apiKey: string;
  resource: string;
  /** Seconds since the epoch, as OAuth counts. */
  expiresAt: number;
}

/** Sign-in pages open past their bound: the client is told to come back (503). */
export class TooManySignInsError extends Error {
  override name = "TooManySignInsError";
}

/** Why a code or refresh token was not honoured; the provider answers it as invalid_grant. */
export class GrantRefusedError extends Error {
  override name = "GrantRefusedError";
}

/** The resource asked for is not the one the grant was made for (invalid_target). */
export class WrongResourceError extends Error {
  override name = "WrongResourceError";
}

const clientSchema = z.object({
  info: z.looseObject({ client_id: z.string(), redirect_uris: z.array(z.string()) }),
  secret: z.string().optional(),
});
/** An authorization request waiting for its user to sign in. */
const signInSchema = z.object({
  clientId: z.string(),
  clientName: z.string().optional(),
  redirectUri: z.string(),
  /** The request named its redirect_uri: the token request must name it too (RFC 6749 §4.1.3). */
  redirectUriGiven: z.boolean().optional(),
  codeChallenge: z.string(),
  state: z.string().optional(),
  resource: z.string(),
  /** When the sign-in page stops working, whatever new forms it shows. */
  expiresAt: z.number(),
});
export type SignInRequest = z.infer<typeof signInSchema>;
const codeSchema = z.object({
  family: z.string(),
  clientId: z.string(),
  redirectUri: z.string(),
  redirectUriGiven: z.boolean().optional(),
  codeChallenge: z.string(),
});
/**
 * One sign-in. It holds one access token and one refresh token at a time, each replaced on
 * refresh, and they end with it.
 */
const familySchema = z.object({
  clientId: z.string(),
  owner: z.string(),
  resource: z.string(),
  /** The user's Ollama key, sealed for this family only. */
  key: z.string(),
  /** The HMAC names of its current tokens, once the code was exchanged. */
  access: z.string().optional(),
  refresh: z.string().optional(),
});
type Family = z.infer<typeof familySchema>;
const accessSchema = z.object({ family: z.string(), clientId: z.string(), expiresAt: z.number() });

const ALREADY_USED =
  "This was already used once, so it may have been stolen: the sign-in it belongs to has ended. Sign in again.";
const CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FAMILY_PREFIX = "fam_";
/**
 * A refresh token names its sign-in, so that one the sign-in no longer holds (rotated away, and
 * presented again) is known for what it is without keeping a record of every token ever issued.
 */
const REFRESH_TOKEN = /^ocm_rt_(fam_[A-Za-z0-9_-]{24})\.[A-Za-z0-9_-]{43}$/;
const keys = {
  client: (id: string) => `ocm:oauth:client:${id}`,
  unclaimed: "ocm:oauth:unclaimed",
  /** Sign-in pages open, in all and per address group: each is bounded. */
  pending: "ocm:oauth:pending",
  pendingFrom: (group: string) => `ocm:oauth:pending:${group}`,
  signIn: (name: string) => `ocm:oauth:signin:${name}`,
  code: (name: string) => `ocm:oauth:code:${name}`,
  family: (id: string) => `ocm:oauth:family:${id}`,
  families: (owner: string) => `ocm:oauth:families:${owner}`,
  /** A sign-in that ended: an exchange racing with its end cannot bring it back. */
  ended: (id: string) => `ocm:oauth:ended:${id}`,
  access: (name: string) => `ocm:oauth:access:${name}`,
  /** A code or refresh token being used: its family, to end if it is used again. */
  used: (name: string) => `ocm:oauth:used:${name}`,
};

/**
 * Registrations, sign-ins, codes and tokens, kept in the store (this process's memory, or the
 * Redis every instance shares). Tokens and nonces are stored only under their HMAC, client
 * secrets and Ollama keys only sealed; what is used once is claimed atomically, so two
 * instances cannot both honour it.
 */
export class Grants {
  constructor(
    private readonly store: Store,
    private readonly seal: Seal,
    private readonly clock: Clock,
    private readonly times: GrantTimes,
  ) {}

  async saveClient(client: OAuthClientInformationFull): Promise<void> {
    const { client_secret: secret, ...info } = client;
    const id = client.client_id;
    const sealed = secret === undefined ? undefined : this.seal.seal(secret, `client:${id}`);
    await this.writeClient(id, info, sealed, UNCLAIMED_CLIENT_TTL_MS);
    const now = this.clock.now();
    await this.store.addToSet(keys.unclaimed, id, now, UNCLAIMED_CLIENT_TTL_MS);
    const count = await this.store.trimSet(keys.unclaimed, now - UNCLAIMED_CLIENT_TTL_MS);
    if (count > MAX_UNCLAIMED_CLIENTS) {
      const oldest = await this.store.lowestInSet(keys.unclaimed, count - MAX_UNCLAIMED_CLIENTS);
      await Promise.all(oldest.map((old) => this.store.delete(keys.client(old))));
      await this.store.removeFromSet(keys.unclaimed, oldest);
    }
  }

  async client(id: string): Promise<OAuthClientInformationFull | undefined> {
    if (!CLIENT_ID.test(id)) return undefined;
    const record = readStored(clientSchema, await this.store.get(keys.client(id)));
    if (!record) return undefined;
    const info = record.info as OAuthClientInformationFull;
    if (record.secret === undefined) return info;
    const secret = this.seal.open(record.secret, `client:${id}`);
    return secret === undefined ? undefined : { ...info, client_secret: secret };
  }

  /**
   * Opens a sign-in page; its form carries the nonce this returns, good for one submission.
   * A page shown for a new authorization counts against the pages open, in all and from the
   * address group it came from; a page shown again (`from` undefined) does not.
   */
  async startSignIn(request: SignInRequest, from?: string): Promise<string> {
    const nonce = randomToken("");
    const now = this.clock.now();
    const ttl = request.expiresAt - now;
    if (ttl <= 0)
      throw new GrantRefusedError("The sign-in page expired: connect again from your app.");
    const name = this.seal.name(nonce);
    if (from !== undefined) await this.countPending(name, from, now);
    await this.store.set(keys.signIn(name), JSON.stringify(request), ttl);
    // A registration with a sign-in in progress is in use: it must outlast the page and the
    // code, whatever floods of registrations push out the unused ones.
    await this.holdClient(request.clientId, ttl + CODE_TTL_MS);
    return nonce;
  }

  private async countPending(name: string, from: string, now: number): Promise<void> {
    for (const [set, cap, why] of [
      [keys.pending, MAX_PENDING, "Too many sign-ins are in progress on this server"],
      [
        keys.pendingFrom(from),
        MAX_PENDING_PER_GROUP,
        "Too many sign-ins are in progress from your network",
      ],
    ] as const) {
      await this.store.addToSet(set, name, now, SIGN_IN_TTL_MS);
      const open = await this.store.trimSet(set, now - SIGN_IN_TTL_MS);
      if (open > cap) {
        await this.store.removeFromSet(set, [name]);
        throw new TooManySignInsError(
          `${why}: finish or close one, or try again in a few minutes.`,
        );
      }
    }
  }

  /** The sign-in a form's nonce belongs to, once: a nonce used, expired or unknown is undefined. */
  async takeSignIn(nonce: string): Promise<SignInRequest | undefined> {
    const name = this.seal.name(nonce);
    const request = readStored(signInSchema, await this.store.get(keys.signIn(name)));
    if (!request) return undefined;
    const ttl = request.expiresAt - this.clock.now();
    if (ttl <= 0 || !(await this.store.setIfAbsent(keys.used(name), "", ttl))) return undefined;
    await this.store.delete(keys.signIn(name));
    return request;
  }

  /** The user signed in with `apiKey`: a code for the client, bound to its request. */
  async issueCode(request: SignInRequest, apiKey: string): Promise<string> {
    const family = randomId(FAMILY_PREFIX);
    const record: Family = {
      clientId: request.clientId,
      owner: keyOwner(apiKey),
      resource: request.resource,
      key: this.seal.seal(apiKey, `family:${family}`),
    };
    // Until the code is exchanged, the sign-in lives as long as the code.
    await this.store.set(keys.family(family), JSON.stringify(record), CODE_TTL_MS);
    const code = randomToken("ocm_code_");
    const stored: z.infer<typeof codeSchema> = {
      family,
      clientId: request.clientId,
      redirectUri: request.redirectUri,
      ...(request.redirectUriGiven && { redirectUriGiven: true }),
      codeChallenge: request.codeChallenge,
    };
    await this.store.set(keys.code(this.seal.name(code)), JSON.stringify(stored), CODE_TTL_MS);
    return code;
  }

  /**
   * The PKCE challenge a code was issued with (the SDK checks the verifier before the exchange):
   * a code used before is refused here, and its sign-in ended.
   */
  async codeChallenge(clientId: string, code: string): Promise<string> {
    const name = this.seal.name(code);
    const record = readStored(codeSchema, await this.store.get(keys.code(name)));
    if (!record) return this.refuseUnknown(name, "The code is unknown, expired or already used.");
    if (record.clientId !== clientId) {
      throw new GrantRefusedError("The code was issued to another client.");
    }
    return record.codeChallenge;
  }

  /** Exchanges a code, once; a code used again ends the sign-in it started. */
  async redeemCode(
    clientId: string,
    code: string,
    redirectUri: string | undefined,
    resource: string | undefined,
  ): Promise<OAuthTokens> {
    const name = this.seal.name(code);
    const record = readStored(codeSchema, await this.store.get(keys.code(name)));
    if (!record) return this.refuseUnknown(name, "The code is unknown, expired or already used.");
    if (record.clientId !== clientId) {
      throw new GrantRefusedError("The code was issued to another client.");
    }
    if (redirectUri === undefined && record.redirectUriGiven) {
      throw new GrantRefusedError(
        "redirect_uri is missing: the authorization request named one, so the token request must name the same (RFC 6749 §4.1.3).",
      );
    }
    if (redirectUri !== undefined && redirectUri !== record.redirectUri) {
      throw new GrantRefusedError("redirect_uri is not the one the code was issued for.");
    }
    const family = await this.family(record.family);
    if (!family)
      throw new GrantRefusedError("The sign-in behind this code has ended: sign in again.");
    if (resource !== undefined && !sameResource(resource, family.resource)) {
      throw new WrongResourceError(`resource must be ${family.resource}.`);
    }
    await this.useOnce(name, record.family, CODE_TTL_MS, keys.code(name));
    await this.claimClient(clientId);
    return this.issueTokens(record.family, family);
  }

  /**
   * A new access token and a new refresh token for the sign-in's current refresh token. One it
   * held before (rotated away) is a replay: the sign-in ends.
   */
  async refresh(
    clientId: string,
    refreshToken: string,
    resource: string | undefined,
  ): Promise<OAuthTokens> {
    const id = REFRESH_TOKEN.exec(refreshToken)?.[1];
    const family = id === undefined ? undefined : await this.family(id);
    if (id === undefined || !family) {
      throw new GrantRefusedError("The refresh token is unknown or expired: sign in again.");
    }
    if (family.clientId !== clientId) {
      throw new GrantRefusedError("The refresh token was issued to another client.");
    }
    if (resource !== undefined && !sameResource(resource, family.resource)) {
      throw new WrongResourceError(`resource must be ${family.resource}.`);
    }
    const name = this.seal.name(refreshToken);
    if (
      name !== family.refresh ||
      !(await this.store.setIfAbsent(keys.used(name), id, RACE_TTL_MS))
    ) {
      await this.endFamily(id);
      throw new GrantRefusedError(ALREADY_USED);
    }
    await this.claimClient(clientId);
    return this.issueTokens(id, family);
  }

  /** Who an access token is from, while it and its sign-in last. */
  async signedIn(accessToken: string): Promise<SignedIn | undefined> {
    const name = this.seal.name(accessToken);
    const record = readStored(accessSchema, await this.store.get(keys.access(name)));
    if (!record || record.expiresAt <= this.clock.now()) return undefined;
    const family = await this.family(record.family);
    if (!family) return undefined;
    const apiKey = this.seal.open(family.key, `family:${record.family}`);
    if (apiKey === undefined) return undefined;
    return {
      clientId: record.clientId,
      apiKey,
      resource: family.resource,
      expiresAt: Math.floor(record.expiresAt / 1000),
    };
  }

  /**
   * Revocation (RFC 7009): either current token of a sign-in ends all of it. Others' tokens, and
   * tokens no sign-in holds, are ignored.
   */
  async revoke(clientId: string, token: string): Promise<void> {
    const name = this.seal.name(token);
    const access = readStored(accessSchema, await this.store.get(keys.access(name)));
    const id = access?.family ?? REFRESH_TOKEN.exec(token)?.[1];
    const family = id === undefined ? undefined : await this.family(id);
    if (id === undefined || family?.clientId !== clientId) return;
    if (access || family.refresh === name) await this.endFamily(id);
  }

  /** The sign-in's new pair of tokens; the access token they replace goes at once. */
  private async issueTokens(id: string, family: Family): Promise<OAuthTokens> {
    const { accessTtlMs } = this.times;
    const access = randomToken("ocm_at_");
    const refresh = randomToken(`ocm_rt_${id}.`);
    const accessName = this.seal.name(access);
    const expiresAt = this.clock.now() + accessTtlMs;
    const record = { family: id, clientId: family.clientId, expiresAt };
    await this.store.set(keys.access(accessName), JSON.stringify(record), accessTtlMs);
    if (family.access) await this.store.delete(keys.access(family.access));
    await this.keepFamily(id, { ...family, access: accessName, refresh: this.seal.name(refresh) });
    return {
      access_token: access,
      token_type: "Bearer",
      expires_in: Math.floor(accessTtlMs / 1000),
      refresh_token: refresh,
    };
  }

  /**
   * Claims a code for this use; if it was claimed before, it was stolen or replayed, and the
   * sign-in it started ends (OAuth 2.1).
   */
  private async useOnce(name: string, family: string, ttlMs: number, record: string) {
    if (!(await this.store.setIfAbsent(keys.used(name), family, ttlMs))) {
      await this.endFamily(family);
      throw new GrantRefusedError(ALREADY_USED);
    }
    await this.store.delete(record);
  }

  /** A code no longer on record: if it was used before, its reuse ends its sign-in. */
  private async refuseUnknown(name: string, why: string): Promise<never> {
    const family = await this.store.get(keys.used(name));
    if (family) {
      await this.endFamily(family);
      throw new GrantRefusedError(ALREADY_USED);
    }
    throw new GrantRefusedError(why);
  }

  private async family(id: string) {
    const [family, ended] = await Promise.all([
      this.store.get(keys.family(id)),
      this.store.get(keys.ended(id)),
    ]);
    return ended === undefined ? readStored(familySchema, family) : undefined;
  }

  /**
   * Keeps a sign-in for another refresh period from now, and its key's sign-ins within their
   * bound: the least recently used beyond it are ended. A sign-in that ended while this exchange
   * ran (a replay of the same token) stays ended: its record, just written, goes again.
   */
  private async keepFamily(id: string, family: Family): Promise<void> {
    const { refreshTtlMs } = this.times;
    const now = this.clock.now();
    await this.store.set(keys.family(id), JSON.stringify(family), refreshTtlMs);
    if ((await this.store.get(keys.ended(id))) !== undefined) {
      await this.store.delete(keys.family(id));
      return;
    }
    const set = keys.families(family.owner);
    await this.store.addToSet(set, id, now, refreshTtlMs);
    const count = await this.store.trimSet(set, now - refreshTtlMs);
    if (count > MAX_SIGN_INS_PER_KEY) {
      const oldest = await this.store.lowestInSet(set, count - MAX_SIGN_INS_PER_KEY);
      await Promise.all(oldest.map((old) => this.store.delete(keys.family(old))));
      await this.store.removeFromSet(set, oldest);
    }
  }

  private async endFamily(id: string): Promise<void> {
    if (!id.startsWith(FAMILY_PREFIX)) return;
    await this.store.set(keys.ended(id), "", RACE_TTL_MS);
    await this.store.delete(keys.family(id));
  }

  /**
   * Keeps a registration out of reach of the unused ones' eviction, for a day or `ms` if that is
   * longer. (A client named by its metadata document has no registration to keep.)
   */
  private async holdClient(id: string, ms: number): Promise<void> {
    const record = readStored(clientSchema, await this.store.get(keys.client(id)));
    if (!record) return;
    await this.store.removeFromSet(keys.unclaimed, [id]);
    await this.writeClient(id, record.info, record.secret, Math.max(ms, UNCLAIMED_CLIENT_TTL_MS));
  }

  /** A client someone signed in through is kept as long as its sign-ins may last. */
  private async claimClient(id: string): Promise<void> {
    const record = readStored(clientSchema, await this.store.get(keys.client(id)));
    if (!record) return;
    await this.writeClient(id, record.info, record.secret, this.times.refreshTtlMs);
    await this.store.removeFromSet(keys.unclaimed, [id]);
  }

  private async writeClient(
    id: string,
    info: Record<string, unknown>,
    sealedSecret: string | undefined,
    ttlMs: number,
  ): Promise<void> {
    const record = { info, ...(sealedSecret !== undefined && { secret: sealedSecret }) };
    await this.store.set(keys.client(id), JSON.stringify(record), ttlMs);
  }
}

/** RFC 8707 resources compare as URLs, a fragment and a trailing slash aside. */
export function sameResource(a: string, b: string): boolean {
  const plain = (url: string) => url.replace(/#.*$/, "").replace(/\/$/, "");
  return plain(a) === plain(b);
}
