import { isLoopbackHostname } from "../hosts.js";

/**
 * Why an OAuth client may not be sent back to `uri`, or undefined: it must be https:// to one of
 * `allowedHosts` (MCP_OAUTH_REDIRECT_HOSTS), or, when those include "loopback", a loopback
 * address on any port (RFC 8252), over http:// or https://.
 */
export function redirectProblem(uri: string, allowedHosts: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `redirect_uri "${shorten(uri)}" is not a URL`;
  }
  // An empty fragment ("…/cb#") is a fragment too, though URL.hash does not show it.
  if (uri.includes("#"))
    return `redirect_uri ${url.origin}${url.pathname} must not have a fragment`;
  if (url.username || url.password) return "redirect_uri must not carry credentials";
  if (isLoopbackHostname(url.hostname)) {
    if (!allowedHosts.includes("loopback")) {
      return `redirect_uri ${url.host} is on loopback, and MCP_OAUTH_REDIRECT_HOSTS does not list loopback`;
    }
    return url.protocol === "http:" || url.protocol === "https:"
      ? undefined
      : `redirect_uri ${url.protocol}// is not allowed: use http:// on loopback, or https://`;
  }
  if (url.protocol !== "https:") {
    return `redirect_uri ${url.protocol}//${url.host} is not allowed: use https:// (or http:// on loopback)`;
  }
  if (!allowedHosts.includes(url.hostname)) {
    return `redirect_uri host ${url.hostname} is not one this server signs people in for (MCP_OAUTH_REDIRECT_HOSTS: ${allowedHosts.join(", ")})`;
  }
  return undefined;
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Whether a requested redirect_uri is the registered one. A loopback redirect may come on any
 * port (RFC 8252 §7.3): native clients take the port the system gives them.
 */
export function redirectUriMatches(requested: string, registered: string): boolean {
  if (requested === registered) return true;
  let asked: URL;
  let known: URL;
  try {
    asked = new URL(requested);
    known = new URL(registered);
  } catch {
    return false;
  }
  return (
    LOOPBACK_HOSTS.has(asked.hostname) &&
    LOOPBACK_HOSTS.has(known.hostname) &&
    asked.protocol === known.protocol &&
    asked.hostname === known.hostname &&
    asked.pathname === known.pathname &&
    asked.search === known.search &&
    !asked.hash
  );
}

/** Longest client name shown on the sign-in page. */
const MAX_NAME_CHARS = 80;

/**
 * What a client calls itself, fit to show a person: no control or format characters (a
 * right-to-left override would turn the page's sentence around), single spaces, and not too long.
 */
export function clientName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const clean = name
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "")
    .replace(/\s+/g, " ")
    .trim();
  if (!clean) return undefined;
  return clean.length > MAX_NAME_CHARS ? `${clean.slice(0, MAX_NAME_CHARS - 1)}…` : clean;
}
