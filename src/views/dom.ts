/** An element with attributes and children; text is always set as text, never parsed as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string | undefined)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    // Through the CSSOM, which a strict CSP allows, unlike a style attribute.
    if (name === "style") element.style.cssText = value;
    else element.setAttribute(name, value);
  }
  for (const child of children) if (child !== undefined) element.append(child);
  return element;
}

const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const small = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: "USD",
  maximumSignificantDigits: 3,
});
const count = new Intl.NumberFormat("en-US");

/** Dollars as people read them: cents, or three figures below a cent. */
export function dollars(value: number): string {
  return value !== 0 && Math.abs(value) < 0.01 ? small.format(value) : usd.format(value);
}

export function whole(value: number): string {
  return count.format(value);
}

/** A date (and the hour, when `withHour`) in UTC, as the usage endpoint counts. */
export function utc(iso: string, withHour = false): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const day = date.toISOString().slice(0, 10);
  return withHour ? `${day} ${date.toISOString().slice(11, 16)} UTC` : day;
}
