import { randomBytes } from "node:crypto";

/** An unguessable id: `prefix`, then 144 random bits in base64url (24 characters). */
export function randomId(prefix: string): string {
  return `${prefix}${randomBytes(18).toString("base64url")}`;
}

/** A secret token: `prefix` (saying what it is, for people and secret scanners), then 256 random bits. */
export function randomToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
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
