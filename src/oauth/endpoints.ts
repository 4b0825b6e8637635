import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { OAuthClientInformationFull } from "@modelcontextprotocol/server";
import type { Clock } from "../clock.js";
import type { HttpOptions } from "../config.js";
import type { Clients } from "./clients.js";
import { type Grants, SIGN_IN_TTL_MS, sameResource } from "./grants.js";
import { CORS_HEADERS, formFields, OAuthFailure, readOAuthBody, sendJson } from "./http.js";
import { redirectUriMatches } from "./redirects.js";
import { type SignInPage, sendSignInPage } from "./sign-in-page.js";

/** Longer than any client's own state, and short enough that a pending sign-in stays small. */
const MAX_STATE_CHARS = 1_024;
/** A PKCE S256 challenge: base64url of a SHA-256 digest, 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** A PKCE verifier (RFC 7636 §4.1). */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const NO_SCOPES = "This server has no scopes to grant: leave scope out.";

/** What the authorization server's endpoints share. */
export interface Endpoints {
  options: HttpOptions;
  clock: Clock;
  grants: Grants;
  clients: Clients;
  /** The issuer, one string in both metadata documents and in iss. */
  issuer: string;
  /** This server's /mcp: every token is for it (RFC 8707). */
  resource: string;
  page: SignInPage;
  /** The address group a request counts against (an address, or an IPv6 /56). */
  groupOf(req: IncomingMessage): string;
}

type Params = Record<string, unknown>;
const text = (params: Params, name: string) =>
  typeof params[name] === "string" ? params[name] : undefined;

/** POST /register (RFC 7591). */
export async function register(e: Endpoints, req: IncomingMessage, res: ServerResponse) {
  const body = await readOAuthBody(req, "json", e.options.bodyTimeoutMs, e.clock);
  sendJson(res, 201, await e.clients.register(body), CORS_HEADERS);
}

/**
 * GET or POST /authorize. Until the client and its redirect are known, a problem is answered
 * here; after, it goes back to the client's redirect, with its state and iss.
 */
export async function authorize(e: Endpoints, req: IncomingMessage, res: ServerResponse) {
  const params =
    req.method === "POST"
      ? await readOAuthBody(req, "form", e.options.bodyTimeoutMs, e.clock)
      : formFields(new URL(req.url ?? "/", e.issuer).searchParams);
  const client = await clientOf(e, text(params, "client_id"));
  const redirectUri = redirectOf(client, text(params, "redirect_uri"));
  const state = text(params, "state");
  if (state !== undefined && state.length > MAX_STATE_CHARS) {
    throw new OAuthFailure(
      400,
      "invalid_request",
      `state is longer than ${MAX_STATE_CHARS} characters.`,
    );
  }
  const refusal = requestProblem(e, params);
  if (refusal) {
    const to = new URL(redirectUri);
    to.searchParams.set("error", refusal.code);
    to.searchParams.set("error_description", refusal.description);
    if (state !== undefined) to.searchParams.set("state", state);
    to.searchParams.set("iss", e.issuer);
    res.writeHead(302, { location: to.href, "cache-control": "no-store" });
    return void res.end();
  }
  const request = {
    clientId: client.client_id,
    clientName: client.client_name,
    redirectUri,
    redirectUriGiven: text(params, "redirect_uri") !== undefined,
    codeChallenge: text(params, "code_challenge") as string,
    state,
    resource: e.resource,
    expiresAt: e.clock.now() + SIGN_IN_TTL_MS,
  };
  const nonce = await e.grants.startSignIn(request, e.groupOf(req));
  sendSignInPage(res, 200, e.page, { request, nonce });
}

async function clientOf(e: Endpoints, clientId: string | undefined) {
  if (!clientId) throw new OAuthFailure(400, "invalid_request", "client_id is missing.");
  const client = await e.clients.find(clientId);
  if (!client) {
    throw new OAuthFailure(
      400,
      "invalid_client",
      "This client is not registered here: register again.",
    );
  }
  return client;
}

/** The redirect the client asked for, if it registered it; else its only one. */
function redirectOf(client: OAuthClientInformationFull, asked: string | undefined): string {
  if (asked !== undefined) {
    if (client.redirect_uris.some((registered) => redirectUriMatches(asked, registered)))
      return asked;
    throw new OAuthFailure(
      400,
      "invalid_request",
      "redirect_uri is not one this client registered.",
    );
  }
  if (client.redirect_uris.length === 1) return client.redirect_uris[0] as string;
  throw new OAuthFailure(
    400,
    "invalid_request",
    "redirect_uri is missing, and this client registered several.",
  );
}

/** What is wrong with an authorization request once its client and redirect are known. */
function requestProblem(
  e: Endpoints,
  params: Params,
): { code: string; description: string } | undefined {
  if (text(params, "response_type") !== "code") {
    return { code: "unsupported_response_type", description: 'response_type must be "code".' };
  }
  const challenge = text(params, "code_challenge");
  if (
    text(params, "code_challenge_method") !== "S256" ||
    !challenge ||
    !S256_CHALLENGE.test(challenge)
  ) {
    return {
      code: "invalid_request",
      description:
        "PKCE is required: send code_challenge (43 characters, base64url) with code_challenge_method=S256.",
    };
  }
  if (text(params, "scope")?.trim()) return { code: "invalid_scope", description: NO_SCOPES };
  const asked = text(params, "resource");
  if (asked !== undefined && !sameResource(asked, e.resource)) {
    return { code: "invalid_target", description: `This server's resource is ${e.resource}.` };
  }
  return undefined;
}

/** POST /token: a code (with its PKCE verifier) or a refresh token, for a new pair of tokens. */
export async function token(e: Endpoints, req: IncomingMessage, res: ServerResponse) {
  const body = await readOAuthBody(req, "form", e.options.bodyTimeoutMs, e.clock);
  const client = await e.clients.authenticate(req, body);
  let tokens: unknown;
  switch (text(body, "grant_type")) {
    case "authorization_code":
      tokens = await codeGrant(e, client.client_id, body);
      break;
    case "refresh_token":
      tokens = await refreshGrant(e, client.client_id, body);
      break;
    case undefined:
      throw new OAuthFailure(400, "invalid_request", "grant_type is missing.");
    default:
      throw new OAuthFailure(
        400,
        "unsupported_grant_type",
        "This server grants authorization_code and refresh_token only.",
      );
  }
  sendJson(res, 200, tokens, { ...CORS_HEADERS, pragma: "no-cache" });
}

async function codeGrant(e: Endpoints, clientId: string, body: Params) {
  const code = text(body, "code");
  const verifier = text(body, "code_verifier");
  if (!code) throw new OAuthFailure(400, "invalid_request", "code is missing.");
  if (!verifier || !VERIFIER.test(verifier)) {
    throw new OAuthFailure(
      400,
      "invalid_request",
      "code_verifier is missing or not a PKCE verifier (43 to 128 characters of A-Z, a-z, 0-9, and - . _ ~).",
    );
  }
  const challenge = await e.grants.codeChallenge(clientId, code);
  if (!sameText(s256(verifier), challenge)) {
    throw new OAuthFailure(
      400,
      "invalid_grant",
      "code_verifier does not match the code's challenge.",
    );
  }
  return e.grants.redeemCode(clientId, code, text(body, "redirect_uri"), text(body, "resource"));
}

async function refreshGrant(e: Endpoints, clientId: string, body: Params) {
  const refreshToken = text(body, "refresh_token");
  if (!refreshToken) throw new OAuthFailure(400, "invalid_request", "refresh_token is missing.");
  if (text(body, "scope")?.trim()) throw new OAuthFailure(400, "invalid_scope", NO_SCOPES);
  return e.grants.refresh(clientId, refreshToken, text(body, "resource"));
}

/** POST /revoke (RFC 7009): either token of a sign-in ends it; an unknown token is not an error. */
export async function revoke(e: Endpoints, req: IncomingMessage, res: ServerResponse) {
  const body = await readOAuthBody(req, "form", e.options.bodyTimeoutMs, e.clock);
  const client = await e.clients.authenticate(req, body);
  const presented = text(body, "token");
  if (!presented) throw new OAuthFailure(400, "invalid_request", "token is missing.");
  await e.grants.revoke(client.client_id, presented);
  sendJson(res, 200, {}, CORS_HEADERS);
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
