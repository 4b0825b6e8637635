import type { ServerResponse } from "node:http";
import type { OAuthRegisteredClientsStore } from "@modelcontextprotocol/sdk/server/auth/clients.js";
import type {
  AuthorizationParams,
  OAuthServerProvider,
} from "@modelcontextprotocol/sdk/server/auth/provider.js";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type {
  OAuthClientInformationFull,
  OAuthTokenRevocationRequest,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import { ownKeyAuth } from "../caller.js";
import type { Clock } from "../clock.js";
import { StoreUnavailableError } from "../store/store.js";
import {
  GrantRefusedError,
  type Grants,
  SIGN_IN_TTL_MS,
  sameResource,
  WrongResourceError,
} from "./grants.js";
import { redirectProblem } from "./redirects.js";
import {
  CustomOAuthError,
  InvalidClientMetadataError,
  InvalidGrantError,
  InvalidTargetError,
  InvalidTokenError,
  ServerError,
} from "./sdk.js";
import { type SignInPage, sendSignInPage } from "./sign-in-page.js";

const MAX_REDIRECT_URIS = 10;
const MAX_REDIRECT_URI_CHARS = 2_000;
const MAX_REGISTRATION_CHARS = 4_096;
/** The client authentications the SDK's token endpoint checks. */
const AUTH_METHODS = new Set(["none", "client_secret_post"]);

export interface ProviderOptions {
  /** The MCP endpoint's URL: every token is for it (RFC 8707). */
  resource: string;
  /** MCP_OAUTH_REDIRECT_HOSTS. */
  redirectHosts: readonly string[];
  page: SignInPage;
}

/**
 * This server as its own OAuth authorization server, for the SDK's mcpAuthRouter: clients
 * register themselves, the user signs in with their Ollama key on our page, and the tokens
 * stand for that key. The SDK checks the requests' form and PKCE; this decides who gets what.
 */
export class OllamaKeyProvider implements OAuthServerProvider {
  readonly clientsStore: OAuthRegisteredClientsStore;

  constructor(
    private readonly grants: Grants,
    private readonly clock: Clock,
    private readonly options: ProviderOptions,
  ) {
    this.clientsStore = {
      getClient: (id) => guard(() => this.allowedClient(id)),
      registerClient: (client) => guard(() => this.register(client as OAuthClientInformationFull)),
    };
  }

  async authorize(
    client: OAuthClientInformationFull,
    params: AuthorizationParams,
    res: ServerResponse,
  ): Promise<void> {
    const { resource } = this.options;
    if (params.resource && !sameResource(params.resource.href, resource)) {
      throw new InvalidTargetError(`This server's resource is ${resource}.`);
    }
    const request = {
      clientId: client.client_id,
      clientName: client.client_name,
      redirectUri: params.redirectUri,
      codeChallenge: params.codeChallenge,
      state: params.state,
      resource,
      expiresAt: this.clock.now() + SIGN_IN_TTL_MS,
    };
    const nonce = await guard(() => this.grants.startSignIn(request));
    sendSignInPage(res, 200, this.options.page, { request, nonce });
  }

  challengeForAuthorizationCode(client: OAuthClientInformationFull, code: string): Promise<string> {
    return guard(() => this.grants.codeChallenge(client.client_id, code));
  }

  exchangeAuthorizationCode(
    client: OAuthClientInformationFull,
    code: string,
    _verifier: string | undefined,
    redirectUri: string | undefined,
    resource: URL | undefined,
  ): Promise<OAuthTokens> {
    return guard(() => this.grants.redeemCode(client.client_id, code, redirectUri, resource?.href));
  }

  exchangeRefreshToken(
    client: OAuthClientInformationFull,
    refreshToken: string,
    _scopes: string[] | undefined,
    resource: URL | undefined,
  ): Promise<OAuthTokens> {
    return guard(() => this.grants.refresh(client.client_id, refreshToken, resource?.href));
  }

  /** The caller is named by their key, as with MCP_HTTP_KEYS=client, whichever app they use. */
  async verifyAccessToken(token: string): Promise<AuthInfo> {
    const signedIn = await guard(() => this.grants.signedIn(token));
    if (!signedIn) {
      throw new InvalidTokenError("The access token is unknown or expired, or its sign-in ended.");
    }
    return ownKeyAuth(signedIn.apiKey, {
      token,
      expiresAt: signedIn.expiresAt,
      resource: new URL(signedIn.resource),
    });
  }

  async revokeToken(
    client: OAuthClientInformationFull,
    request: OAuthTokenRevocationRequest,
  ): Promise<void> {
    await guard(() => this.grants.revoke(client.client_id, request.token));
  }

  /** A registration, with only the redirects still allowed; none left, and it is unknown. */
  private async allowedClient(id: string): Promise<OAuthClientInformationFull | undefined> {
    const client = await this.grants.client(id);
    if (!client) return undefined;
    const allowed = client.redirect_uris.filter(
      (uri) => !redirectProblem(uri, this.options.redirectHosts),
    );
    return allowed.length > 0 ? { ...client, redirect_uris: allowed } : undefined;
  }

  private async register(client: OAuthClientInformationFull): Promise<OAuthClientInformationFull> {
    const uris = client.redirect_uris;
    if (uris.length === 0 || uris.length > MAX_REDIRECT_URIS) {
      throw new InvalidClientMetadataError(
        `redirect_uris must list 1 to ${MAX_REDIRECT_URIS} URIs; got ${uris.length}.`,
      );
    }
    for (const uri of uris) {
      const problem =
        uri.length > MAX_REDIRECT_URI_CHARS
          ? `redirect_uri is longer than ${MAX_REDIRECT_URI_CHARS} characters`
          : redirectProblem(uri, this.options.redirectHosts);
      if (problem) throw new CustomOAuthError("invalid_redirect_uri", `${problem}.`);
    }
    if (JSON.stringify(client).length > MAX_REGISTRATION_CHARS) {
      throw new InvalidClientMetadataError(
        `The registration is larger than ${MAX_REGISTRATION_CHARS} characters.`,
      );
    }
    // A client that asked for another way to authenticate gets the one the token endpoint has.
    const method = client.token_endpoint_auth_method ?? "client_secret_post";
    const registered = {
      ...client,
      token_endpoint_auth_method: AUTH_METHODS.has(method) ? method : "client_secret_post",
    };
    await this.grants.saveClient(registered);
    return registered;
  }
}

/** Refusals as OAuth errors; a store that cannot be reached as a server error that says so. */
async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof GrantRefusedError) throw new InvalidGrantError(error.message);
    if (error instanceof WrongResourceError) throw new InvalidTargetError(error.message);
    if (error instanceof StoreUnavailableError) throw new ServerError(error.message);
    throw error;
  }
}
