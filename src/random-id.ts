/** Random bytes in an id: 144 bits, 24 characters of base64url. */
const ID_BYTES = 18;

/**
 * An unguessable id: `prefix`, then 144 random bits in base64url. Web Crypto is used rather
 * than node:crypto because it loads on first use, not at start-up, where nothing needs it.
 */
export function randomId(prefix: string): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(ID_BYTES));
  return `${prefix}${Buffer.from(bytes).toString("base64url")}`;
}

/**
 * Whether `value` has the exact form randomId(prefix) makes. Ids become store keys, so anything
 * else (a suffix such as ":seen", a key of another kind) is refused before the store is asked.
 */
export function isRandomId(prefix: string, value: string): boolean {
  return randomIdPattern(prefix).test(value);
}

export function randomIdPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}[A-Za-z0-9_-]{24}$`);
}
