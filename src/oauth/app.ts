import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ownKeyAuth } from "../caller.js";
import type { Clock } from "../clock.js";
import type { HttpOptions } from "../config.js";
import { describeDuration } from "../duration.js";
import { refuse } from "../http/guards.js";
import { bearer, type HttpCaller } from "../http/identify.js";
import type { OpsLogger } from "../observability.js";
import { type Store, StoreUnavailableError } from "../store/store.js";
import { ClientMetadataDocuments, type MetadataFetching } from "./client-metadata.js";
import { Clients } from "./clients.js";
import {
  GrantRefusedError,
  Grants,
  SIGN_IN_TTL_MS,
  sameResource,
  TooManySignInsError,
  WrongResourceError,
} from "./grants.js";
import {
  addressGroup,
  CORS_HEADERS,
  clientAddressOf,
  formFields,
  OAuthFailure,
  readOAuthBody,
  sendFailure,
  sendJson,
} from "./http.js";
import { WindowLimit } from "./rate-limit.js";
import { redirectUriMatches } from "./redirects.js";
import { Seal } from "./seal.js";
import { type CheckKey, signInForm } from "./sign-in-form.js";
import { sendSignInPage } from "./sign-in-page.js";
import { FailureSlowdown } from "./slowdown.js";

const DOCS_URL = "https://github.com/ollama-cloud-mcp/ollama-cloud-mcp/blob/main/docs/http.md";
const SIGN_IN_PATH = "/signin";
/** Longer than any client's own state, and short enough that a pending sign-in stays small. */
const MAX_STATE_CHARS = 1_024;
/** A PKCE S256 challenge: base64url of a SHA-256 digest, 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** A PKCE verifier (RFC 7636 §4.1). */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export interface OAuthDeps {
  /** With auth "oauth": publicUrl and oauthSecret are set (config.ts checked them). */
  options: HttpOptions;
  mcpPath: string;
  store: Store;
  clock: Clock;
  log: OpsLogger;
  checkKey: CheckKey;
  /** Serves an MCP request for the signed-in caller. */
  serve(req: IncomingMessage, res: ServerResponse, caller: HttpCaller): Promise<void>;
  /** How client metadata documents are fetched, where tests need their own. */
  clientMetadata?: MetadataFetching;
}

export interface OAuthServer {
  /** Discovery, registration, authorization, the sign-in form, tokens, revocation; else 404. */
  routes(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The MCP endpoint: a valid access token, or a 401 that says where to sign in. */
  mcp(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * The HTTP server as its own OAuth authorization server (MCP_HTTP_AUTH=oauth): clients register
 * (RFC 7591), the user signs in with their Ollama key on our page, and the tokens stand for that
 * key. Written on the grants in the store rather than on a framework: each endpoint reads its
 * body within the same bounds as /mcp.
 */
export function createOAuthServer(deps: OAuthDeps): OAuthServer {
  const { options, clock, log } = deps;
  const publicUrl = options.publicUrl as string;
  // One string everywhere (both metadata documents and iss): the origin, without a trailing
  // slash, from which clients derive the metadata's well-known URL (RFC 8414 §3).
  const issuer = publicUrl;
  const resource = `${publicUrl}${deps.mcpPath}`;
  const resourceMetadataUrl = `${publicUrl}/.well-known/oauth-protected-resource${deps.mcpPath}`;
  const grants = new Grants(deps.store, new Seal(options.oauthSecret as string), clock, {
    accessTtlMs: options.oauthAccessTtlMs,
    refreshTtlMs: options.oauthRefreshTtlMs,
  });
  const metadataDocuments = new ClientMetadataDocuments({
    clientIdHosts: options.oauthClientIdHosts,
    redirectHosts: options.oauthRedirectHosts,
    clock,
    log,
    ...(deps.clientMetadata && { fetching: deps.clientMetadata }),
  });
  const clients = new Clients(grants, clock, options.oauthRedirectHosts, metadataDocuments);
  const page = {
    action: `${publicUrl}${SIGN_IN_PATH}`,
    serverHost: new URL(publicUrl).host,
    keptFor: describeDuration(options.oauthRefreshTtlMs),
  };
  const addressOf = clientAddressOf(options.trustedProxies);
  // claude.ai and ChatGPT register and exchange tokens from their own servers, for all their
  // users from a few addresses: these limits leave a team room. Grants bounds what
  // registration can fill.
  const limits: Record<string, WindowLimit> = {
    "/register": new WindowLimit(deps.store, clock, "register", 300, 60 * 60_000),
    "/token": new WindowLimit(deps.store, clock, "token", 1_000, 15 * 60_000),
    "/authorize": new WindowLimit(deps.store, clock, "authorize", 100, 15 * 60_000),
    "/revoke": new WindowLimit(deps.store, clock, "revoke", 100, 15 * 60_000),
  };
  const form = signInForm({
    grants,
    slowdown: new FailureSlowdown(deps.store, clock),
    page,
    publicOrigin: new URL(publicUrl).origin,
    log,
    checkKey: deps.checkKey,
    addressOf: (req) => addressGroup(addressOf(req)),
    bodyTimeoutMs: options.bodyTimeoutMs,
    clock,
    issuer,
  });

  const serverMetadata = {
    issuer,
    authorization_endpoint: `${publicUrl}/authorize`,
    token_endpoint: `${publicUrl}/token`,
    registration_endpoint: `${publicUrl}/register`,
    revocation_endpoint: `${publicUrl}/revoke`,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic", "none"],
    // Claude, Claude Code, ChatGPT and VS Code then name themselves by their metadata
    // document's URL; registration stays for the rest.
    client_id_metadata_document_supported: true,
    // Every answer of /authorize carries iss (RFC 9207), which 2026-07-28 clients check.
    authorization_response_iss_parameter_supported: true,
    revocation_endpoint_auth_methods_supported: [
      "client_secret_post",
      "client_secret_basic",
      "none",
    ],
    service_documentation: DOCS_URL,
  };
  const resourceMetadata = {
    resource,
    authorization_servers: [issuer],
    resource_name: "Ollama Cloud MCP",
    resource_documentation: DOCS_URL,
    bearer_methods_supported: ["header"],
  };

  /** POST /register (RFC 7591). */
  async function register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = await clients.register(
      await readOAuthBody(req, "json", options.bodyTimeoutMs, clock),
    );
    sendJson(res, 201, client, CORS_HEADERS);
  }

  /**
   * GET or POST /authorize. Until the client and its redirect are known, a problem is answered
   * here; after, it goes back to the client's redirect, with its state.
   */
  async function authorize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const params =
      req.method === "POST"
        ? await readOAuthBody(req, "form", options.bodyTimeoutMs, clock)
        : formFields(new URL(req.url ?? "/", publicUrl).searchParams);
    const text = (name: string) => (typeof params[name] === "string" ? params[name] : undefined);
    const clientId = text("client_id");
    if (!clientId) throw new OAuthFailure(400, "invalid_request", "client_id is missing.");
    const client = await clients.find(clientId);
    if (!client) {
      throw new OAuthFailure(
        400,
        "invalid_client",
        "This client is not registered here: register again.",
      );
    }
    let redirectUri = text("redirect_uri");
    if (redirectUri !== undefined) {
      const asked = redirectUri;
      if (!client.redirect_uris.some((registered) => redirectUriMatches(asked, registered))) {
        throw new OAuthFailure(
          400,
          "invalid_request",
          "redirect_uri is not one this client registered.",
        );
      }
    } else if (client.redirect_uris.length === 1) {
      redirectUri = client.redirect_uris[0] as string;
    } else {
      throw new OAuthFailure(
        400,
        "invalid_request",
        "redirect_uri is missing, and this client registered several.",
      );
    }
    const state = text("state");
    if (state !== undefined && state.length > MAX_STATE_CHARS) {
      throw new OAuthFailure(
        400,
        "invalid_request",
        `state is longer than ${MAX_STATE_CHARS} characters.`,
      );
    }
    const back = (code: string, description: string) => {
      const to = new URL(redirectUri as string);
      to.searchParams.set("error", code);
      to.searchParams.set("error_description", description);
      if (state !== undefined) to.searchParams.set("state", state);
      to.searchParams.set("iss", issuer);
      res.writeHead(302, { location: to.href, "cache-control": "no-store" });
      res.end();
    };
    if (text("response_type") !== "code") {
      return back("unsupported_response_type", 'response_type must be "code".');
    }
    const challenge = text("code_challenge");
    if (text("code_challenge_method") !== "S256" || !challenge || !S256_CHALLENGE.test(challenge)) {
      return back(
        "invalid_request",
        "PKCE is required: send code_challenge (43 characters, base64url) with code_challenge_method=S256.",
      );
    }
    if (text("scope")?.trim()) {
      return back("invalid_scope", "This server has no scopes to grant: leave scope out.");
    }
    const asked = text("resource");
    if (asked !== undefined && !sameResource(asked, resource)) {
      return back("invalid_target", `This server's resource is ${resource}.`);
    }
    const request = {
      clientId: client.client_id,
      clientName: client.client_name,
      redirectUri,
      redirectUriGiven: text("redirect_uri") !== undefined,
      codeChallenge: challenge,
      state,
      resource,
      expiresAt: clock.now() + SIGN_IN_TTL_MS,
    };
    const nonce = await grants.startSignIn(request, addressGroup(addressOf(req)));
    sendSignInPage(res, 200, page, { request, nonce });
  }

  /** POST /token: a code (with its PKCE verifier) or a refresh token, for a new pair of tokens. */
  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readOAuthBody(req, "form", options.bodyTimeoutMs, clock);
    const client = await clients.authenticate(req, body);
    const text = (name: string) => (typeof body[name] === "string" ? body[name] : undefined);
    const asked = text("resource");
    let tokens: unknown;
    switch (text("grant_type")) {
      case "authorization_code": {
        const code = text("code");
        const verifier = text("code_verifier");
        if (!code) throw new OAuthFailure(400, "invalid_request", "code is missing.");
        if (!verifier || !VERIFIER.test(verifier)) {
          throw new OAuthFailure(
            400,
            "invalid_request",
            "code_verifier is missing or not a PKCE verifier (43 to 128 characters of A-Z, a-z, 0-9, and - . _ ~).",
          );
        }
        const challenge = await grants.codeChallenge(client.client_id, code);
        if (!sameText(s256(verifier), challenge)) {
          throw new OAuthFailure(
            400,
            "invalid_grant",
            "code_verifier does not match the code's challenge.",
          );
        }
        tokens = await grants.redeemCode(client.client_id, code, text("redirect_uri"), asked);
        break;
      }
      case "refresh_token": {
        const refreshToken = text("refresh_token");
        if (!refreshToken)
          throw new OAuthFailure(400, "invalid_request", "refresh_token is missing.");
        if (text("scope")?.trim()) {
          throw new OAuthFailure(
            400,
            "invalid_scope",
            "This server has no scopes to grant: leave scope out.",
          );
        }
        tokens = await grants.refresh(client.client_id, refreshToken, asked);
        break;
      }
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

  /** POST /revoke (RFC 7009): either token of a sign-in ends it; an unknown token is not an error. */
  async function revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readOAuthBody(req, "form", options.bodyTimeoutMs, clock);
    const client = await clients.authenticate(req, body);
    if (typeof body.token !== "string" || !body.token) {
      throw new OAuthFailure(400, "invalid_request", "token is missing.");
    }
    await grants.revoke(client.client_id, body.token);
    sendJson(res, 200, {}, CORS_HEADERS);
  }

  const endpoints: Record<string, { methods: string[]; handle: typeof register }> = {
    "/register": { methods: ["POST"], handle: register },
    "/authorize": { methods: ["GET", "POST"], handle: authorize },
    "/token": { methods: ["POST"], handle: token },
    "/revoke": { methods: ["POST"], handle: revoke },
  };
  const documents: Record<string, unknown> = {
    "/.well-known/oauth-authorization-server": serverMetadata,
    [`/.well-known/oauth-protected-resource${deps.mcpPath}`]: resourceMetadata,
    "/.well-known/oauth-protected-resource": resourceMetadata,
  };

  async function routes(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method === "OPTIONS" && (path in documents || path in endpoints)) {
      res.writeHead(204, CORS_HEADERS);
      return void res.end();
    }
    const document = documents[path];
    if (document) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return sendFailure(
          res,
          new OAuthFailure(405, "invalid_request", `Use GET for ${path}.`, { allow: "GET" }),
        );
      }
      return sendJson(res, 200, document, { ...CORS_HEADERS, "cache-control": "max-age=3600" });
    }
    if (path === SIGN_IN_PATH && req.method === "POST") return form(req, res);
    const endpoint = endpoints[path];
    if (!endpoint) return refuse(res, 404, `Not found: the MCP endpoint is ${deps.mcpPath}`);
    try {
      if (!endpoint.methods.includes(req.method ?? "")) {
        throw new OAuthFailure(
          405,
          "invalid_request",
          `Use ${endpoint.methods.join(" or ")} for ${path}.`,
          {
            allow: endpoint.methods.join(", "),
          },
        );
      }
      const waitS = (await limits[path]?.take(addressGroup(addressOf(req)))) ?? 0;
      if (waitS > 0) {
        throw new OAuthFailure(
          429,
          "too_many_requests",
          `Too many requests to ${path} from your network: try again in ${waitS} seconds.`,
          {
            "retry-after": String(waitS),
          },
        );
      }
      await endpoint.handle(req, res);
    } catch (error) {
      sendFailure(res, asOAuthFailure(error, log));
    }
  }

  async function mcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const challenge = (error?: { code: string; description: string }) => {
      const parts = [
        ...(error ? [`error="${error.code}"`, `error_description="${error.description}"`] : []),
        `resource_metadata="${resourceMetadataUrl}"`,
      ];
      sendJson(
        res,
        401,
        error
          ? { error: error.code, error_description: error.description }
          : { error: "invalid_token", error_description: "Sign in: send an access token." },
        { "www-authenticate": `Bearer ${parts.join(", ")}`, connection: "close" },
      );
    };
    const presented = bearer(req.headers.authorization);
    if (!presented) return challenge();
    let signedIn: Awaited<ReturnType<Grants["signedIn"]>>;
    try {
      signedIn = await grants.signedIn(presented);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      return refuse(
        res,
        503,
        `Signed-in calls need the store, which cannot be reached: ${error.message}`,
        {
          headers: { "retry-after": "5" },
        },
      );
    }
    if (!signedIn) {
      return challenge({
        code: "invalid_token",
        description: "The access token is unknown or expired, or its sign-in ended.",
      });
    }
    if (!sameResource(signedIn.resource, resource)) {
      return challenge({
        code: "invalid_token",
        description: "Token was not issued for this resource",
      });
    }
    const auth = ownKeyAuth(signedIn.apiKey, {
      token: presented,
      expiresAt: signedIn.expiresAt,
      resource: new URL(signedIn.resource),
    });
    await deps.serve(req, res, { identity: auth.clientId, auth });
  }

  return { routes, mcp };
}

/** Refusals as OAuth errors; a store that cannot be reached as a 503 that says so. */
function asOAuthFailure(error: unknown, log: OpsLogger): OAuthFailure {
  if (error instanceof OAuthFailure) return error;
  if (error instanceof GrantRefusedError)
    return new OAuthFailure(400, "invalid_grant", error.message);
  if (error instanceof WrongResourceError)
    return new OAuthFailure(400, "invalid_target", error.message);
  if (error instanceof TooManySignInsError) {
    return new OAuthFailure(503, "temporarily_unavailable", error.message, { "retry-after": "60" });
  }
  if (error instanceof StoreUnavailableError) {
    log.log("warning", "oauth: the store cannot be reached");
    return new OAuthFailure(
      503,
      "temporarily_unavailable",
      `Signing in needs the store, which cannot be reached: ${error.message}`,
      {
        "retry-after": "5",
      },
    );
  }
  log.log("error", "oauth: request failed", { error: (error as Error)?.name ?? "error" });
  return new OAuthFailure(500, "server_error", "Internal server error");
}

function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
