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
import { authorize, type Endpoints, register, revoke, token } from "./endpoints.js";
import {
  GrantRefusedError,
  Grants,
  sameResource,
  TooManySignInsError,
  WrongResourceError,
} from "./grants.js";
import {
  addressGroup,
  CORS_HEADERS,
  clientAddressOf,
  OAuthFailure,
  sendFailure,
  sendJson,
} from "./http.js";
import { WindowLimit } from "./rate-limit.js";
import { Seal } from "./seal.js";
import { type CheckKey, signInForm } from "./sign-in-form.js";
import { FailureSlowdown } from "./slowdown.js";

const DOCS_URL = "https://github.com/ollama-cloud-mcp/ollama-cloud-mcp/blob/main/docs/http.md";
const SIGN_IN_PATH = "/signin";

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

type Handler = (e: Endpoints, req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * The HTTP server as its own OAuth authorization server (MCP_HTTP_AUTH=oauth): clients register
 * (RFC 7591) or name their metadata document (CIMD), the user signs in with their Ollama key on
 * our page, and the tokens stand for that key. Written on the grants in the store rather than on
 * a framework: each endpoint (endpoints.ts) reads its body within the same bounds as /mcp.
 */
export function createOAuthServer(deps: OAuthDeps): OAuthServer {
  const e = endpointsFor(deps);
  const addressOf = clientAddressOf(deps.options.trustedProxies);
  const form = signInForm({
    grants: e.grants,
    slowdown: new FailureSlowdown(deps.store, deps.clock),
    page: e.page,
    publicOrigin: new URL(e.issuer).origin,
    log: deps.log,
    checkKey: deps.checkKey,
    addressOf: (req) => addressGroup(addressOf(req)),
    bodyTimeoutMs: deps.options.bodyTimeoutMs,
    clock: deps.clock,
    issuer: e.issuer,
  });
  const documents = discoveryDocuments(e, deps.mcpPath);
  const handlers = limitedHandlers(deps);
  return {
    async routes(req, res) {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method === "OPTIONS" && (path in documents || path in handlers)) {
        res.writeHead(204, CORS_HEADERS);
        return void res.end();
      }
      const document = documents[path];
      if (document) return sendDocument(req, res, path, document);
      if (path === SIGN_IN_PATH && req.method === "POST") return form(req, res);
      const handle = handlers[path];
      if (!handle) return refuse(res, 404, `Not found: the MCP endpoint is ${deps.mcpPath}`);
      try {
        await handle(e, req, res);
      } catch (error) {
        sendFailure(res, asOAuthFailure(error, deps.log));
      }
    },
    mcp: (req, res) => bearerCheck(e, deps, req, res),
  };
}

/** The endpoints' shared parts: the grants in the store, the clients, the sign-in page. */
function endpointsFor(deps: OAuthDeps): Endpoints {
  const { options, clock, log } = deps;
  const publicUrl = options.publicUrl as string;
  const grants = new Grants(deps.store, new Seal(options.oauthSecret as string), clock, {
    accessTtlMs: options.oauthAccessTtlMs,
    refreshTtlMs: options.oauthRefreshTtlMs,
  });
  const documents = new ClientMetadataDocuments({
    clientIdHosts: options.oauthClientIdHosts,
    redirectHosts: options.oauthRedirectHosts,
    clock,
    log,
    ...(deps.clientMetadata && { fetching: deps.clientMetadata }),
  });
  const addressOf = clientAddressOf(options.trustedProxies);
  return {
    options,
    clock,
    grants,
    clients: new Clients(grants, clock, options.oauthRedirectHosts, documents),
    // One string everywhere (both metadata documents and iss): the origin, without a trailing
    // slash, from which clients derive the metadata's well-known URL (RFC 8414 §3).
    issuer: publicUrl,
    resource: `${publicUrl}${deps.mcpPath}`,
    page: {
      action: `${publicUrl}${SIGN_IN_PATH}`,
      serverHost: new URL(publicUrl).host,
      keptFor: describeDuration(options.oauthRefreshTtlMs),
    },
    groupOf: (req) => addressGroup(addressOf(req)),
  };
}

/**
 * Each endpoint behind its methods and its per-address limit. claude.ai and ChatGPT register and
 * exchange tokens from their own servers, for all their users from a few addresses: the limits
 * leave a team room. They are counted in the store, so instances on one Redis count together.
 */
function limitedHandlers(deps: OAuthDeps): Record<string, Handler> {
  const { store, clock } = deps;
  const endpoint =
    (methods: string[], limit: WindowLimit, handle: Handler): Handler =>
    async (e, req, res) => {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (!methods.includes(req.method ?? "")) {
        throw new OAuthFailure(405, "invalid_request", `Use ${methods.join(" or ")} for ${path}.`, {
          allow: methods.join(", "),
        });
      }
      const waitS = await limit.take(e.groupOf(req));
      if (waitS > 0) {
        throw new OAuthFailure(
          429,
          "too_many_requests",
          `Too many requests to ${path} from your network: try again in ${waitS} seconds.`,
          { "retry-after": String(waitS) },
        );
      }
      await handle(e, req, res);
    };
  const minutes = (n: number) => n * 60_000;
  return {
    "/register": endpoint(
      ["POST"],
      new WindowLimit(store, clock, "register", 300, minutes(60)),
      register,
    ),
    "/authorize": endpoint(
      ["GET", "POST"],
      new WindowLimit(store, clock, "authorize", 100, minutes(15)),
      authorize,
    ),
    "/token": endpoint(["POST"], new WindowLimit(store, clock, "token", 1_000, minutes(15)), token),
    "/revoke": endpoint(
      ["POST"],
      new WindowLimit(store, clock, "revoke", 100, minutes(15)),
      revoke,
    ),
  };
}

/** RFC 8414's server metadata and RFC 9728's resource metadata, by the paths they are read at. */
function discoveryDocuments(e: Endpoints, mcpPath: string): Record<string, unknown> {
  const base = e.issuer;
  const authMethods = ["client_secret_post", "client_secret_basic", "none"];
  const server = {
    issuer: e.issuer,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: `${base}/register`,
    revocation_endpoint: `${base}/revoke`,
    response_types_supported: ["code"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint_auth_methods_supported: authMethods,
    // Claude, Claude Code, ChatGPT and VS Code then name themselves by their metadata
    // document's URL; registration stays for the rest.
    client_id_metadata_document_supported: true,
    // Every answer of /authorize carries iss (RFC 9207), which 2026-07-28 clients check.
    authorization_response_iss_parameter_supported: true,
    service_documentation: DOCS_URL,
  };
  const resource = {
    resource: e.resource,
    authorization_servers: [e.issuer],
    resource_name: "Ollama Cloud MCP",
    resource_documentation: DOCS_URL,
    bearer_methods_supported: ["header"],
  };
  return {
    "/.well-known/oauth-authorization-server": server,
    [`/.well-known/oauth-protected-resource${mcpPath}`]: resource,
    "/.well-known/oauth-protected-resource": resource,
  };
}

function sendDocument(req: IncomingMessage, res: ServerResponse, path: string, document: unknown) {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return sendFailure(
      res,
      new OAuthFailure(405, "invalid_request", `Use GET for ${path}.`, { allow: "GET" }),
    );
  }
  sendJson(res, 200, document, { ...CORS_HEADERS, "cache-control": "max-age=3600" });
}

/** /mcp with sign-in: a valid access token for this resource, or a 401 that says where to sign in. */
async function bearerCheck(
  e: Endpoints,
  deps: OAuthDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const challenge = (error?: { code: string; description: string }) => {
    const metadata = `resource_metadata="${e.issuer}/.well-known/oauth-protected-resource${deps.mcpPath}"`;
    const parts = error
      ? [`error="${error.code}"`, `error_description="${error.description}"`, metadata]
      : [metadata];
    const body = error
      ? { error: error.code, error_description: error.description }
      : { error: "invalid_token", error_description: "Sign in: send an access token." };
    sendJson(res, 401, body, {
      "www-authenticate": `Bearer ${parts.join(", ")}`,
      connection: "close",
    });
  };
  const presented = bearer(req.headers.authorization);
  if (!presented) return challenge();
  let signedIn: Awaited<ReturnType<Grants["signedIn"]>>;
  try {
    signedIn = await e.grants.signedIn(presented);
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
  if (!sameResource(signedIn.resource, e.resource)) {
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
