import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * What MCP_OAUTH_SECRET protects: the Ollama keys kept for signed-in users (AES-256-GCM) and
 * the names tokens are stored under (HMAC-SHA-256). Each gets its own key, derived with HKDF,
 * so a new secret makes every stored key unreadable and every token unknown: all sign out.
 */
export class Seal {
  private readonly sealKey: Buffer;
  private readonly nameKey: Buffer;

  constructor(secret: string) {
    const derive = (purpose: string) =>
      Buffer.from(hkdfSync("sha256", secret, "ollama-cloud-mcp oauth", purpose, 32));
    this.sealKey = derive("ollama key");
    this.nameKey = derive("token name");
  }

  /** `text` encrypted and authenticated; `context` (where it is kept) must match to open it. */
  seal(text: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.sealKey, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
  }

  /** The text sealed in `context`, or undefined when it was not (another secret, or tampered). */
  open(sealed: string, context: string): string | undefined {
    const bytes = Buffer.from(sealed, "base64url");
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.sealKey, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const body = decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES));
      return Buffer.concat([body, decipher.final()]).toString("utf8");
    } catch {
      return undefined;
    }
  }

  /** The name a token (or nonce) is stored under: the store never holds the token itself. */
  name(token: string): string {
    return createHmac("sha256", this.nameKey).update(token).digest("base64url");
  }
}
