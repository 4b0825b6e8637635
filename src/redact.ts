/** What replaces a secret in any text that came from upstream. */
export const REDACTED = "[redacted]";

/** Shorter strings are not treated as secrets: replacing them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 6;

export type Redact = (text: string) => string;

/**
 * Removes the given secrets (the Ollama key, the HTTP token, a caller's key) from a text, in
 * the forms an echoing server could quote them: as sent, URL-encoded, and in a Bearer header.
 */
export function redactor(secrets: readonly (string | undefined)[]): Redact {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
  }
  // Longest first, so a form that contains another is replaced whole.
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const form of ordered) if (out.includes(form)) out = out.split(form).join(REDACTED);
    return out;
  };
}

/** Both redactions in turn. */
export function combine(a: Redact, b: Redact): Redact {
  return (text) => b(a(text));
}
