import { createHash, randomBytes } from "node:crypto";
import type {
  FetchLike,
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  OAuthTokens,
} from "@modelcontextprotocol/client";
import {
  Client,
  StreamableHTTPClientTransport,
  UnauthorizedError,
} from "@modelcontextprotocol/client";
import { INITIALIZE_REQUEST } from "./spawn-bin.js";

export const CALLBACK = "http://127.0.0.1:38211/callback";

/** The sign-in page's form: where it goes, and its one-time nonce. */
export function formOf(html: string): { action: string; nonce: string } {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const nonce = /name="nonce" value="([^"]+)"/.exec(html)?.[1];
  if (!action || !nonce) throw new Error(`no sign-in form in the page:\n${html.slice(0, 500)}`);
  return { action: action.replace(/&#38;/g, "&"), nonce };
}

/** Sends the sign-in form as a browser would: its nonce, the key, from the page's origin. */
export function submitForm(
  form: { action: string; nonce: string },
  key: string,
  headers: Record<string, string> = {},
  send: FetchLike = fetch,
): Promise<Response> {
  return send(form.action, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: new URL(form.action).origin,
      ...headers,
    },
    body: new URLSearchParams({ nonce: form.nonce, key }).toString(),
  });
}

/**
 * An OAuth client as an MCP app is one, for the SDK's client: it keeps its registration and
 * tokens in memory, and when it must send its user to sign in, does what the user would on the
 * page: reads the form, types the key, sends it, and takes the code from the redirect.
 */
export class SignInWithKey implements OAuthClientProvider {
  /** How many times the user was sent to the sign-in page. */
  signIns = 0;
  /** What the sign-in sent the browser back with: the code, the state, the issuer. */
  callback: URLSearchParams | undefined;
  private client: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = "";
  private discovered: OAuthDiscoveryState | undefined;

  constructor(
    private readonly apiKey: string,
    /** How the "browser" reaches the server (a TLS agent, behind a proxy). */
    private readonly send: FetchLike = fetch,
    /** Names the client by its metadata document instead of registering it. */
    readonly clientMetadataUrl?: string,
  ) {}

  get code(): string | undefined {
    return this.callback?.get("code") ?? undefined;
  }

  get redirectUrl(): string {
    return CALLBACK;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "SDK test client",
      redirect_uris: [CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    };
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }

  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }

  // Kept, as a real app keeps them, so the SDK checks the callback against the issuer it found.
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovered = state;
  }

  discoveryState() {
    return this.discovered;
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    this.signIns++;
    const page = await this.send(url);
    if (page.status !== 200) throw new Error(`sign-in page: ${page.status} ${await page.text()}`);
    const answer = await submitForm(formOf(await page.text()), this.apiKey, {}, this.send);
    const location = answer.headers.get("location");
    if (answer.status !== 303 || !location) {
      throw new Error(`sign-in refused: ${answer.status} ${await answer.text()}`);
    }
    this.callback = new URL(location).searchParams;
  }
}

/** An SDK client connected to `url`, signed in with `apiKey` through the sign-in page. */
export async function connectSignedIn(
  url: string,
  provider: SignInWithKey,
  send?: FetchLike,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const options = { authProvider: provider, ...(send && { fetch: send }) };
  const attempt = async () => {
    const transport = new StreamableHTTPClientTransport(new URL(url), options);
    const client = new Client({ name: "oauth-test", version: "1.0.0" });
    await client.connect(transport);
    return { client, transport };
  };
  try {
    return await attempt();
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !provider.callback) throw error;
    const transport = new StreamableHTTPClientTransport(new URL(url), options);
    // The whole callback, so that the client checks its iss (RFC 9207).
    await transport.finishAuth(provider.callback);
    return attempt();
  }
}

export interface Registered {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
}

/** Dynamic Client Registration, as a client does it. */
export async function register(
  base: string,
  metadata: Record<string, unknown> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await fetch(`${base}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "test client", redirect_uris: [CALLBACK], ...metadata }),
  });
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
}

/** A PKCE verifier and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export function authorizeUrl(
  base: string,
  client: Registered,
  challenge: string,
  extra: Record<string, string> = {},
): string {
  const params = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0] as string,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "state-123",
    resource: `${base}/mcp`,
    ...extra,
  });
  return `${base}/authorize?${params}`;
}

/** Registers, opens the sign-in page and sends the key: the code the redirect carries. */
export async function signIn(
  base: string,
  key: string,
): Promise<{ client: Registered; code: string; verifier: string }> {
  const client = (await register(base)).body as unknown as Registered;
  const { verifier, challenge } = pkce();
  const page = await fetch(authorizeUrl(base, client, challenge));
  const answer = await submitForm(formOf(await page.text()), key);
  const code = new URL(answer.headers.get("location") ?? "http://x/").searchParams.get("code");
  if (!code) throw new Error(`no code: ${answer.status} ${await answer.text()}`);
  return { client, code, verifier };
}

/** A request to the token endpoint, as the client's own credentials would make it. */
export async function tokenRequest(
  base: string,
  client: Registered,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, string> }> {
  const answer = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: client.client_id,
      ...(client.client_secret && { client_secret: client.client_secret }),
      ...params,
    }).toString(),
  });
  return { status: answer.status, body: (await answer.json()) as Record<string, string> };
}

/** Exchanges a code from signIn() for tokens. */
export async function exchange(
  base: string,
  signedIn: { client: Registered; code: string; verifier: string },
): Promise<{ status: number; body: Record<string, string> }> {
  return tokenRequest(base, signedIn.client, {
    grant_type: "authorization_code",
    code: signedIn.code,
    code_verifier: signedIn.verifier,
    redirect_uri: signedIn.client.redirect_uris[0] as string,
  });
}

/** An initialize request to /mcp with a bearer token: its status says whether the token is good. */
export async function mcpStatus(url: string, token: string): Promise<number> {
  const answer = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(INITIALIZE_REQUEST),
  });
  await answer.text();
  return answer.status;
}
