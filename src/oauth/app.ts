import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import type { Clock } from "../clock.js";
import type { HttpOptions } from "../config.js";
import { describeDuration } from "../duration.js";
import type { HttpCaller } from "../http-caller.js";
import type { OpsLogger } from "../observability.js";
import type { Store } from "../store/store.js";
import { refuse } from "../transports/http-guards.js";
import { Grants } from "./grants.js";
import { OllamaKeyProvider } from "./provider.js";
import {
  express,
  getOAuthProtectedResourceMetadataUrl,
  mcpAuthRouter,
  requireBearerAuth,
} from "./sdk.js";
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
}

export interface OAuthServer {
  /** Discovery, registration, authorization, the sign-in form, tokens, revocation; else 404. */
  routes(req: IncomingMessage, res: ServerResponse): void;
  /** The MCP endpoint: a valid access token, or a 401 that says where to sign in. */
  mcp(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * The HTTP server as its own OAuth authorization server (MCP_HTTP_AUTH=oauth): the SDK's router
 * and bearer check, our provider behind them, and the sign-in form.
 */
export function createOAuthServer(deps: OAuthDeps): OAuthServer {
  const { options, store, clock, log } = deps;
  const publicUrl = options.publicUrl as string;
  const resource = new URL(`${publicUrl}${deps.mcpPath}`);
  const grants = new Grants(store, new Seal(options.oauthSecret as string), clock, {
    accessTtlMs: options.oauthAccessTtlMs,
    refreshTtlMs: options.oauthRefreshTtlMs,
  });
  const page = {
    action: `${publicUrl}${SIGN_IN_PATH}`,
    serverHost: new URL(publicUrl).host,
    keptFor: describeDuration(options.oauthRefreshTtlMs),
  };
  const provider = new OllamaKeyProvider(grants, clock, {
    resource: resource.href,
    redirectHosts: options.oauthRedirectHosts,
    page,
  });

  const routes = express();
  routes.disable("x-powered-by");
  // The client's address, for the per-address limits, from the proxies trusted to say it.
  routes.set("trust proxy", options.trustedProxies);
  // Claude registers again when the token endpoint says, with 401, that it no longer knows the
  // client; the SDK answers an unknown client with 400.
  routes.use(
    ["/token", "/revoke"],
    express.urlencoded({ extended: false, limit: "16kb" }),
    async (req: Request, res: Response, next: NextFunction) => {
      const id = (req.body as Record<string, unknown> | undefined)?.client_id;
      if (typeof id === "string" && !(await provider.clientsStore.getClient(id))) {
        res.status(401).set("cache-control", "no-store").json({
          error: "invalid_client",
          error_description: "This client is not registered here (any more): register again.",
        });
        return;
      }
      next();
    },
  );
  routes.post(
    SIGN_IN_PATH,
    express.urlencoded({ extended: false, limit: "8kb" }),
    signInForm({
      grants,
      slowdown: new FailureSlowdown(clock),
      page,
      publicOrigin: new URL(publicUrl).origin,
      log,
      checkKey: deps.checkKey,
    }),
  );
  routes.use(
    mcpAuthRouter({
      provider,
      issuerUrl: new URL(publicUrl),
      resourceServerUrl: resource,
      resourceName: "Ollama Cloud MCP",
      serviceDocumentationUrl: new URL(DOCS_URL),
      // A registration lasts while it is used (see Grants); its secret does not expire apart.
      // claude.ai and ChatGPT register and exchange tokens from their own servers, for all their
      // users from a few addresses: the SDK's per-address limits (20 registrations an hour, 50
      // token requests in 15 minutes) would lock a team out. Grants bounds what registration
      // can fill.
      clientRegistrationOptions: {
        clientSecretExpirySeconds: 0,
        rateLimit: { windowMs: 60 * 60_000, max: 300 },
      },
      tokenOptions: { rateLimit: { windowMs: 15 * 60_000, max: 1_000 } },
    }),
  );
  routes.use((_req: Request, res: Response) => {
    refuse(res, 404, `Not found: the MCP endpoint is ${deps.mcpPath}`);
  });
  routes.use(
    answerErrors(log, (res, status, message) => {
      res.status(status).set("cache-control", "no-store");
      res.json({
        error: status < 500 ? "invalid_request" : "server_error",
        error_description: message,
      });
    }),
  );

  const mcp = express();
  mcp.disable("x-powered-by");
  mcp.use(
    requireBearerAuth({
      verifier: provider,
      resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource),
      expectedResource: resource,
    }),
    (req: Request, res: Response, next: NextFunction) => {
      const auth = req.auth;
      if (!auth) return next(new Error("no auth after the bearer check"));
      deps.serve(req, res, { identity: auth.clientId, auth }).catch(next);
    },
  );
  mcp.use(answerErrors(log, refuse));

  return {
    routes: (req, res) => void routes(req, res),
    mcp: (req, res) => void mcp(req, res),
  };
}

/**
 * Errors with their status (a body too large, a form that does not parse), in the endpoint's own
 * form (OAuth's, or JSON-RPC's for /mcp); never a stack.
 */
function answerErrors(
  log: OpsLogger,
  send: (res: Response, status: number, message: string) => void,
) {
  return (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void res.destroy();
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      const expose = (error as { expose?: unknown }).expose === true;
      return send(res, status, expose ? (error as Error).message : "Bad request");
    }
    log.log("error", "oauth: request failed", { error: (error as Error)?.name ?? "error" });
    send(res, 500, "Internal server error");
  };
}
