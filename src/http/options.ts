import type { HttpOptions, ServerConfig } from "../config.js";
import { isLoopbackHostname } from "../hosts.js";
import { ConfigError } from "../setting.js";

/**
 * The rules between HTTP settings and the rest, checked once at start: who may spend the
 * server's key, and where callers' own keys may go.
 */
export function checkHttpOptions(config: ServerConfig, http: HttpOptions): void {
  // With callers' own keys, or signed-in users, each caller authenticates upstream: there is
  // nothing of the server's to spend.
  const ownKeys = http.keys === "client" || http.auth === "oauth";
  if (http.enabled && !ownKeys && !http.token && !isLoopbackHostname(http.host)) {
    throw new ConfigError(
      `Refusing to listen on ${http.host} without a token: anyone who can reach it could spend your Ollama usage. Set MCP_HTTP_TOKEN (or --http-token), or listen on 127.0.0.1.`,
    );
  }
  if (http.keys === "client") checkCallerKeys(config, http);
}

/** Callers' own keys exclude any key or token of the server's, and a local Ollama. */
function checkCallerKeys(config: ServerConfig, http: HttpOptions): void {
  const refuse = (why: string) => {
    throw new ConfigError(`MCP_HTTP_KEYS=client (--http-keys client) ${why}`);
  };
  if (!http.enabled) refuse("is for --http: over stdio there is no caller to bring a key.");
  if (config.apiKey) {
    refuse(
      "means each caller brings its own Ollama key, so the server must hold none: unset OLLAMA_API_KEY.",
    );
  }
  if (http.token) {
    refuse(
      "takes each caller's Ollama key as its bearer token, so MCP_HTTP_TOKEN cannot be set too: unset it.",
    );
  }
  checkKeysGoToCloud(config, "caller", refuse);
}

/**
 * Keys that callers (or signed-in users) bring go to Ollama's cloud only: directly, never through
 * a local Ollama, and never over plain http:// beyond loopback.
 */
export function checkKeysGoToCloud(
  config: ServerConfig,
  whose: "caller" | "user",
  refuse: (why: string) => void,
): void {
  if (config.mode !== "cloud") {
    refuse(
      `works with Ollama's cloud only, and OLLAMA_MODE is ${config.mode}: a local Ollama has its own sign-in.`,
    );
  }
  if (config.cloudVia !== "direct") {
    refuse(
      `sends each ${whose}'s key to Ollama's cloud directly: OLLAMA_CLOUD_VIA must be direct (or auto).`,
    );
  }
  const host = new URL(config.cloudHost);
  if (host.protocol === "http:" && !isLoopbackHostname(host.hostname)) {
    refuse(`would send ${whose}s' keys over plain http:// to ${host.host}: use https://.`);
  }
}
