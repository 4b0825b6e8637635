import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request } from "node:https";
import { BlockList, isIP, type LookupFunction, type Socket } from "node:net";
import type { OAuthClientInformationFull } from "@modelcontextprotocol/server";
import * as z from "zod";
import type { Clock } from "../clock.js";
import { isLoopbackHostname } from "../hosts.js";
import type { OpsLogger } from "../observability.js";
import { OAuthFailure } from "./http.js";
import PINNED from "./pinned-client-metadata.json" with { type: "json" };
import { clientName, redirectProblem } from "./redirects.js";

const TIMEOUT_MS = 5_000;
const MAX_BYTES = 5 * 1024;
const MIN_CACHE_MS = 5 * 60_000;
const MAX_CACHE_MS = 24 * 60 * 60_000;
/** How long a document that could not be had is not asked for again. */
const FAILURE_MS = 3 * 60_000;
const MAX_CACHED = 1_000;

/** Addresses a metadata fetch must never reach: this host, its networks, and nowhere at all. */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 3],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 127],
  ["::ffff:0:0", 96],
  ["64:ff9b:1::", 48],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, "ipv6");
}
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** What this server reads of a client's metadata document (draft-ietf-oauth-client-id-metadata-document). */
const documentSchema = z.looseObject({
  client_id: z.string(),
  client_name: z.string().optional(),
  redirect_uris: z.array(z.string()).min(1).max(10),
  token_endpoint_auth_method: z.string().optional(),
  grant_types: z.array(z.string()).optional(),
  response_types: z.array(z.string()).optional(),
});

export interface ClientMetadataOptions {
  /** MCP_OAUTH_CLIENT_ID_HOSTS: empty for any public host; "loopback" admits loopback hosts. */
  clientIdHosts: readonly string[];
  /** MCP_OAUTH_REDIRECT_HOSTS. */
  redirectHosts: readonly string[];
  clock: Clock;
  log: OpsLogger;
  /** How documents are fetched, where tests need their own: TLS roots, and name resolution. */
  fetching?: MetadataFetching;
}

export interface MetadataFetching {
  /** Certificates to trust besides the system's. */
  ca?: string;
  /** The addresses a host name resolves to; Node's resolver by default. */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

function systemResolve(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );
}

type Cached =
  | { client: OAuthClientInformationFull; until: number }
  | { failed: string; until: number };

/**
 * A `client_id` that is an https URL names the client's own metadata document (CIMD): Claude,
 * Claude Code, ChatGPT and VS Code identify themselves this way when the server says it
 * supports it. The document is fetched over https from a public address only (checked on the
 * address actually connected to), without redirects, within 5 s and 5 KB, and must name
 * itself; its redirects must be ones this server signs people in for. When the fetch fails, a
 * copy pinned in this package (pinned-client-metadata.json) stands in, under the same checks.
 */
export class ClientMetadataDocuments {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly options: ClientMetadataOptions) {}

  /** Whether `clientId` names a metadata document rather than a registration. */
  static names(clientId: string): boolean {
    return /^https?:\/\//i.test(clientId);
  }

  async resolve(clientId: string): Promise<OAuthClientInformationFull> {
    const url = this.checkClientId(clientId);
    const now = this.options.clock.now();
    const cached = this.cache.get(clientId);
    if (cached && cached.until > now) {
      if ("client" in cached) return cached.client;
      return this.pinnedOr(clientId, cached.failed);
    }
    let text: string;
    let maxAgeMs: number;
    try {
      ({ text, maxAgeMs } = await this.fetch(url));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      this.remember(clientId, { failed: why, until: now + FAILURE_MS });
      this.options.log.log("warning", "oauth: a client metadata document could not be fetched", {
        host: url.host,
      });
      return this.pinnedOr(clientId, why);
    }
    const client = this.check(clientId, text);
    this.remember(clientId, {
      client,
      until: now + Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, maxAgeMs)),
    });
    return client;
  }

  private checkClientId(clientId: string): URL {
    let url: URL;
    try {
      url = new URL(clientId);
    } catch {
      throw refused(`client_id ${shorten(clientId)} is not a URL.`);
    }
    if (url.protocol !== "https:") {
      throw refused(
        "A client_id that is a URL must be https://: its metadata document is fetched over https only.",
      );
    }
    if (url.pathname === "/" || url.hash || url.username || url.password) {
      throw refused("A client_id URL must have a path, and no fragment or credentials.");
    }
    const loopback = isLoopbackHostname(url.hostname) || isLoopbackAddress(url.hostname);
    const hosts = this.options.clientIdHosts;
    if (loopback && !hosts.includes("loopback")) {
      throw refused(
        `client_id ${url.host} is on loopback, and MCP_OAUTH_CLIENT_ID_HOSTS does not list loopback.`,
      );
    }
    const named = hosts.filter((host) => host !== "loopback");
    if (!loopback && named.length > 0 && !named.includes(url.hostname.toLowerCase())) {
      throw refused(
        `client_id host ${url.hostname} is not one this server takes clients from (MCP_OAUTH_CLIENT_ID_HOSTS: ${hosts.join(", ")}).`,
      );
    }
    if (
      isIP(url.hostname.replace(/^\[|\]$/g, "")) &&
      !loopback &&
      !isPublic(url.hostname.replace(/^\[|\]$/g, ""))
    ) {
      throw refused(`client_id ${url.host} is not a public address.`);
    }
    return url;
  }

  /** The document's own word for the client, checked; a refusal says what is wrong with it. */
  private check(clientId: string, text: string): OAuthClientInformationFull {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw refused(`The client metadata document at ${clientId} is not JSON.`);
    }
    const parsed = documentSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw refused(
        `The client metadata document at ${clientId}: ${issue?.path.join(".") || "it"} ${issue?.message ?? "is not valid"}.`,
      );
    }
    const document = parsed.data;
    if (document.client_id !== clientId) {
      throw refused(
        `The client metadata document at ${clientId} names another client_id (${shorten(document.client_id)}).`,
      );
    }
    const method = document.token_endpoint_auth_method ?? "none";
    if (method !== "none") {
      throw refused(
        `The client metadata document at ${clientId} asks for ${method}: this server takes public clients (none) by metadata document.`,
      );
    }
    for (const uri of document.redirect_uris) {
      const problem = redirectProblem(uri, this.options.redirectHosts);
      if (problem) throw refused(`The client metadata document at ${clientId}: ${problem}.`);
    }
    return {
      client_id: clientId,
      client_name: clientName(document.client_name),
      redirect_uris: document.redirect_uris,
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    };
  }

  /** The pinned copy of `clientId`'s document, checked like a fetched one; else the failure. */
  private pinnedOr(clientId: string, failure: string): OAuthClientInformationFull {
    const pinned = PINNED.documents.find((entry) => entry.document.client_id === clientId);
    if (!pinned) {
      throw refused(
        `The client metadata document at ${clientId} could not be fetched: ${failure}.`,
      );
    }
    return this.check(clientId, JSON.stringify(pinned.document));
  }

  private remember(clientId: string, entry: Cached): void {
    this.cache.delete(clientId);
    this.cache.set(clientId, entry);
    for (const oldest of this.cache.keys()) {
      if (this.cache.size <= MAX_CACHED) break;
      this.cache.delete(oldest);
    }
  }

  private fetch(url: URL): Promise<{ text: string; maxAgeMs: number }> {
    const admitLoopback = this.options.clientIdHosts.includes("loopback");
    const allowed = (address: string) =>
      isPublic(address) || (admitLoopback && isLoopbackAddress(address));
    const resolveHost = this.options.fetching?.resolve ?? systemResolve;
    const lookup: LookupFunction = (hostname, options, callback) => {
      resolveHost(hostname).then(
        (addresses) => {
          const usable = addresses.filter((a) => allowed(a.address));
          if (usable.length === 0) {
            return callback(new Error(`${hostname} does not resolve to a public address`), "", 4);
          }
          if (options.all) {
            return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
          }
          const first = usable[0] as LookupAddress;
          callback(null, first.address, first.family);
        },
        (error: NodeJS.ErrnoException) => callback(error, "", 4),
      );
    };
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: "GET",
          headers: { accept: "application/json" },
          lookup,
          timeout: TIMEOUT_MS,
          ...(this.options.fetching?.ca && { ca: this.options.fetching.ca }),
        },
        (res) => {
          if ((res.statusCode ?? 0) >= 300 && (res.statusCode ?? 0) < 400) {
            res.destroy();
            return reject(
              new Error(`it answered with a redirect (${res.statusCode}), which is not followed`),
            );
          }
          if (res.statusCode !== 200) {
            res.destroy();
            return reject(new Error(`it answered ${res.statusCode}`));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BYTES) {
              res.destroy();
              return reject(new Error(`it is larger than ${MAX_BYTES} bytes`));
            }
            chunks.push(chunk);
          });
          res.on("end", () =>
            resolve({
              text: Buffer.concat(chunks).toString("utf8"),
              maxAgeMs: maxAge(res.headers["cache-control"]),
            }),
          );
          res.on("error", reject);
        },
      );
      // The address connected to, whatever the name resolved to a moment before.
      req.on("socket", (socket: Socket) => {
        socket.once("connect", () => {
          const address = socket.remoteAddress ?? "";
          if (!allowed(address))
            req.destroy(new Error(`it is served from ${address}, not a public address`));
        });
      });
      const deadline = this.options.clock.schedule(TIMEOUT_MS, () =>
        req.destroy(new Error(`it did not arrive within ${TIMEOUT_MS / 1000} s`)),
      );
      req.on("close", deadline);
      req.on("timeout", () =>
        req.destroy(new Error(`it did not arrive within ${TIMEOUT_MS / 1000} s`)),
      );
      req.on("error", reject);
      req.end();
    });
  }
}

function refused(message: string): OAuthFailure {
  return new OAuthFailure(400, "invalid_client", message);
}

function isPublic(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return isPublic(mapped);
  const family = isIP(address);
  if (family === 0) return false;
  return !NOT_PUBLIC.check(address, family === 4 ? "ipv4" : "ipv6");
}

function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "").replace(/^::ffff:/i, "");
  const family = isIP(bare);
  return family !== 0 && LOOPBACK.check(bare, family === 4 ? "ipv4" : "ipv6");
}

function maxAge(cacheControl: string | undefined): number {
  if (!cacheControl || /no-store|no-cache/i.test(cacheControl)) return 0;
  const seconds = /max-age=(\d+)/i.exec(cacheControl)?.[1];
  return seconds === undefined ? 0 : Number(seconds) * 1000;
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
