import { readFileSync } from "node:fs";
import type { HttpOptions, ServerConfig } from "../config.js";
import { isLoopbackHostname } from "../hosts.js";
import { checkKeysGoToCloud } from "../http/options.js";
import { ConfigError } from "../setting.js";

/**
 * What sign-in needs, checked once at start: the URL clients reach and a secret; each user brings
 * their own key, so the server holds none, and calls go to ollama.com directly. Returns the
 * secret, from MCP_OAUTH_SECRET or the file MCP_OAUTH_SECRET_FILE names.
 */
export function checkOAuthOptions(config: ServerConfig, http: HttpOptions): string {
  const refuse = (why: string): never => {
    throw new ConfigError(`MCP_HTTP_AUTH=oauth (--http-auth oauth) ${why}`);
  };
  if (!http.enabled) refuse("is for --http: over stdio there is no one to sign in.");
  const publicUrl = new URL(
    http.publicUrl ??
      refuse(
        "needs MCP_PUBLIC_URL (--public-url): the URL clients reach this server at, such as https://mcp.example.com.",
      ),
  );
  if (publicUrl.pathname !== "/") {
    refuse(
      `serves sign-in at the root of MCP_PUBLIC_URL's host: give the origin alone, such as ${publicUrl.origin}, not a path (${publicUrl.pathname}).`,
    );
  }
  const secret = secretOf(http, refuse);
  if (http.keys === "client") {
    refuse("already takes each user's key: MCP_HTTP_KEYS=client cannot be set too.");
  }
  if (http.token) refuse("signs people in instead of a shared token: unset MCP_HTTP_TOKEN.");
  if (config.apiKey) {
    refuse(
      "runs each signed-in user's calls on their own key, so the server must hold none: unset OLLAMA_API_KEY.",
    );
  }
  checkKeysGoToCloud(config, "user", refuse);
  if (!isLoopbackHostname(http.host) && publicUrl.protocol === "http:") {
    refuse(
      `listens on ${http.host}, beyond loopback, while MCP_PUBLIC_URL is http://: keys and tokens would cross the network in the clear. Serve it behind TLS (an https:// MCP_PUBLIC_URL), or listen on loopback (MCP_HTTP_HOST=127.0.0.1).`,
    );
  }
  return secret;
}

function secretOf(http: HttpOptions, refuse: (why: string) => never): string {
  let secret = http.oauthSecret;
  if (http.oauthSecretFile) {
    if (secret) refuse("takes MCP_OAUTH_SECRET or MCP_OAUTH_SECRET_FILE, not both.");
    try {
      secret = readFileSync(http.oauthSecretFile, "utf8").trim();
    } catch (error) {
      refuse(
        `cannot read MCP_OAUTH_SECRET_FILE (${(error as { code?: string }).code ?? "error"}).`,
      );
    }
  }
  if (!secret) {
    return refuse(
      "needs MCP_OAUTH_SECRET: at least 32 random bytes, e.g. `openssl rand -base64 32` (from the environment or MCP_OAUTH_SECRET_FILE, never a flag).",
    );
  }
  if (Buffer.byteLength(secret) < 32) {
    refuse(
      `needs an MCP_OAUTH_SECRET of at least 32 bytes; this one has ${Buffer.byteLength(secret)}. Make one with \`openssl rand -base64 32\`.`,
    );
  }
  return secret;
}
