import { ConfigError, list } from "./setting.js";

/** Host names and base URLs, as the settings, the HTTP guards and sign-in read them. */

/** Where an Ollama API key is made. */
export const API_KEYS_URL = "https://ollama.com/settings/keys";
export const DEFAULT_CLOUD_HOST = "https://ollama.com";
export const DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434";

export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}

/**
 * OLLAMA_HOST as the Ollama CLI reads it: scheme defaults to http, host to 127.0.0.1, port to
 * 11434. An unspecified bind address (0.0.0.0, ::) means this machine.
 */
export function parseOllamaHost(raw: string): string {
  let value = raw.trim();
  const hadScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
  if (/^\d+$/.test(value)) value = `:${value}`;
  if (value.startsWith(":")) value = `127.0.0.1${value}`;
  if (!hadScheme) value = `http://${value}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `OLLAMA_HOST must look like http://127.0.0.1:11434, 127.0.0.1:11434 or :11434; got "${raw}".`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`OLLAMA_HOST must use http:// or https://; got "${url.protocol}".`);
  }
  if (url.hostname === "0.0.0.0") url.hostname = "127.0.0.1";
  if (url.hostname === "[::]") url.hostname = "[::1]";
  // Like Ollama: without a scheme the port defaults to 11434; with one, to the scheme's own.
  if (!hadScheme && !url.port && !/:\d+$/.test(url.host)) url.port = "11434";
  return url.href.replace(/\/+$/, "");
}

/** The cloud's base URL; a key never travels over plain http:// beyond loopback. */
export function parseCloudHost(raw: string, hasKey: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `OLLAMA_CLOUD_HOST must be an absolute http(s) URL such as ${DEFAULT_CLOUD_HOST}; got "${raw}".`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(
      `OLLAMA_CLOUD_HOST must use https:// (or http:// for a loopback host); got "${url.protocol}".`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      "OLLAMA_CLOUD_HOST must be a plain base URL without credentials, query or fragment.",
    );
  }
  if (url.protocol === "http:" && hasKey && !isLoopbackHostname(url.hostname)) {
    throw new ConfigError(
      `Refusing to send OLLAMA_API_KEY over plain http:// to ${url.host}. Use https://, or a loopback host (127.0.0.1, ::1, localhost) for a local proxy.`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * The URL clients reach: https://, or for local use http:// on localhost or 127.0.0.1; a trailing
 * /mcp is the resource's, not its.
 */
export function parsePublicUrl(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `${name} must be the URL clients reach the server at, such as https://mcp.example.com; got "${value}".`,
    );
  }
  const local = url.protocol === "http:" && ["localhost", "127.0.0.1"].includes(url.hostname);
  if (url.protocol !== "https:" && !local) {
    throw new ConfigError(
      `${name} must use https:// (or http://localhost or http://127.0.0.1, for local use); got "${url.protocol}//${url.host}".`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(`${name} must be a plain URL, without credentials, query or fragment.`);
  }
  return url.href.replace(/\/+$/, "").replace(/\/mcp$/, "");
}

/** Host names (no scheme, port or path), and "loopback", comma-separated. */
export function parseHostNames(value: string | undefined, name: string): string[] {
  const hosts = list(value);
  for (const host of hosts) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(host)) {
      throw new ConfigError(
        `${name} takes host names, such as claude.ai, and "loopback"; got "${host}".`,
      );
    }
  }
  return hosts.map((host) => host.toLowerCase());
}

const PROXY_RANGES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** What Express's "trust proxy" takes: named ranges, addresses, and address/prefix. */
export function parseProxyRanges(value: string | undefined, name: string): string[] {
  const entries = list(value);
  for (const entry of entries) {
    if (PROXY_RANGES.has(entry.toLowerCase())) continue;
    const [address = "", prefix, extra] = entry.split("/");
    // node:net only for an address: a stdio start would load it before it needs it.
    const version = process.getBuiltinModule("node:net").isIP(address);
    if (prefix !== undefined && Number(prefix) === 0) {
      throw new ConfigError(
        `${name} cannot trust every address ("${entry}"): any client could then name itself in X-Forwarded-For. List your proxies' addresses or ranges.`,
      );
    }
    const prefixOk =
      prefix === undefined ||
      (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
    if (!(version && prefixOk && extra === undefined)) {
      throw new ConfigError(
        `${name} takes loopback, linklocal, uniquelocal, addresses and CIDR ranges such as 10.0.0.0/8; got "${entry}".`,
      );
    }
  }
  return entries.map((entry) =>
    PROXY_RANGES.has(entry.toLowerCase()) ? entry.toLowerCase() : entry,
  );
}
