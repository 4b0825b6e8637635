/**
 * An unguessable id: `prefix`, then 144 random bits in base64url. Web Crypto is used rather
 * than node:crypto because it loads on first use, not at start-up, where nothing needs it.
 */
export function randomId(prefix: string): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(18));
  return `${prefix}${Buffer.from(bytes).toString("base64url")}`;
}
