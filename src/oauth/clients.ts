import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { OAuthClientInformationFull } from "@modelcontextprotocol/server";
import * as z from "zod";
import type { Clock } from "../clock.js";
import { ClientMetadataDocuments } from "./client-metadata.js";
import type { Grants } from "./grants.js";
import { OAuthFailure } from "./http.js";
import { clientName, redirectProblem } from "./redirects.js";

const MAX_REDIRECT_URIS = 10;
const MAX_REDIRECT_URI_CHARS = 2_000;
const MAX_REGISTRATION_CHARS = 4_096;
/** How a client proves itself at the token endpoint: public, or with its secret. */
const AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"] as const;
const GRANT_TYPES = ["authorization_code", "refresh_token"];

/** What a client may say of itself when it registers (RFC 7591 §2); the rest is not kept. */
const registrationSchema = z.object({
  redirect_uris: z.array(z.string()),
  token_endpoint_auth_method: z.string().optional(),
  grant_types: z.array(z.string()).optional(),
  response_types: z.array(z.string()).optional(),
  client_name: z.string().optional(),
  client_uri: z.string().optional(),
  logo_uri: z.string().optional(),
  scope: z.string().optional(),
  software_id: z.string().optional(),
  software_version: z.string().optional(),
});

const invalidMetadata = (message: string) =>
  new OAuthFailure(400, "invalid_client_metadata", message);

/**
 * Clients: registered ones (RFC 7591), and those named by a metadata document URL; the
 * redirects they may use, and who may speak for them.
 */
export class Clients {
  constructor(
    private readonly grants: Grants,
    private readonly clock: Clock,
    /** MCP_OAUTH_REDIRECT_HOSTS. */
    private readonly redirectHosts: readonly string[],
    private readonly documents: ClientMetadataDocuments,
  ) {}

  async register(body: Record<string, unknown>): Promise<OAuthClientInformationFull> {
    const parsed = registrationSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw invalidMetadata(
        `${issue?.path.join(".") || "the registration"}: ${issue?.message ?? "not valid"}.`,
      );
    }
    const metadata = parsed.data;
    const uris = metadata.redirect_uris;
    if (uris.length === 0 || uris.length > MAX_REDIRECT_URIS) {
      throw invalidMetadata(
        `redirect_uris must list 1 to ${MAX_REDIRECT_URIS} URIs; got ${uris.length}.`,
      );
    }
    for (const uri of uris) {
      const problem =
        uri.length > MAX_REDIRECT_URI_CHARS
          ? `redirect_uri is longer than ${MAX_REDIRECT_URI_CHARS} characters`
          : redirectProblem(uri, this.redirectHosts);
      if (problem) throw new OAuthFailure(400, "invalid_redirect_uri", `${problem}.`);
    }
    const method = metadata.token_endpoint_auth_method ?? "client_secret_post";
    if (!(AUTH_METHODS as readonly string[]).includes(method)) {
      throw invalidMetadata(
        `token_endpoint_auth_method ${method} is not supported here: use ${AUTH_METHODS.join(", ")}.`,
      );
    }
    const grants = metadata.grant_types ?? ["authorization_code"];
    const unsupported = grants.find((grant) => !GRANT_TYPES.includes(grant));
    if (unsupported) {
      throw invalidMetadata(
        `grant_types: ${unsupported} is not supported here: use ${GRANT_TYPES.join(", ")}.`,
      );
    }
    if (metadata.response_types?.some((type) => type !== "code")) {
      throw invalidMetadata('response_types: only "code" is supported here.');
    }
    if (JSON.stringify(metadata).length > MAX_REGISTRATION_CHARS) {
      throw invalidMetadata(
        `The registration is larger than ${MAX_REGISTRATION_CHARS} characters.`,
      );
    }
    const name = clientName(metadata.client_name);
    const client: OAuthClientInformationFull = {
      ...metadata,
      client_name: name,
      token_endpoint_auth_method: method,
      grant_types: grants,
      response_types: ["code"],
      client_id: randomUUID(),
      client_id_issued_at: Math.floor(this.clock.now() / 1000),
      ...(method !== "none" && {
        client_secret: randomBytes(32).toString("hex"),
        client_secret_expires_at: 0,
      }),
    };
    await this.grants.saveClient(client);
    return client;
  }

  /**
   * A client by its id: a metadata document's (which may refuse, saying why), or a
   * registration, with only the redirects still allowed (none left, and it is unknown).
   */
  async find(id: string): Promise<OAuthClientInformationFull | undefined> {
    if (ClientMetadataDocuments.names(id)) return this.documents.resolve(id);
    const client = await this.grants.client(id);
    if (!client) return undefined;
    const allowed = client.redirect_uris.filter((uri) => !redirectProblem(uri, this.redirectHosts));
    return allowed.length > 0 ? { ...client, redirect_uris: allowed } : undefined;
  }

  /**
   * The client a token or revocation request speaks for, its secret checked in constant time.
   * An unknown client gets 401: Claude registers again when told so, and not on a 400.
   */
  async authenticate(
    req: IncomingMessage,
    body: Record<string, unknown>,
  ): Promise<OAuthClientInformationFull> {
    const basic = basicCredentials(req.headers.authorization);
    const id = basic?.id ?? body.client_id;
    if (typeof id !== "string" || !id) {
      throw new OAuthFailure(400, "invalid_request", "client_id is missing.");
    }
    const client = await this.find(id);
    if (!client) {
      throw new OAuthFailure(
        401,
        "invalid_client",
        "This client is not registered here (any more): register again.",
      );
    }
    if (!client.client_secret) return client;
    const presented = basic?.secret ?? body.client_secret;
    if (typeof presented !== "string" || !sameSecret(presented, client.client_secret)) {
      throw new OAuthFailure(401, "invalid_client", "The client_secret is missing or wrong.");
    }
    return client;
  }
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  // RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
  return {
    id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
    secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
  };
}

/** Compares digests, so neither the secret nor its length leaks through timing. */
function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}
