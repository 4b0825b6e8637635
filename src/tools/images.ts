import { constants, type Stats } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { ToolFailure } from "./define-tool.js";

export const MAX_IMAGES = 8;

export interface ImageLimits {
  /** Bytes of one image, decoded. */
  maxBytes: number;
  /** Bytes of all images of one call. */
  maxTotalBytes: number;
  /** File paths are read only when the server runs beside its client (stdio). */
  allowFiles: boolean;
}

const FORMATS: { name: string; matches(bytes: Uint8Array): boolean }[] = [
  { name: "PNG", matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { name: "JPEG", matches: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  { name: "GIF", matches: (b) => ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a" },
  { name: "WebP", matches: (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP" },
];
const ALLOWED = "a data:image/...;base64, URI, plain base64, or (over stdio) an absolute file path";
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The images of a call, decoded and checked before anything is sent: real PNG, JPEG, WebP or
 * GIF bytes within the size limits. Each refusal names the item and says what is allowed. No
 * URL is ever fetched: the server reads nothing on a caller's behalf.
 */
export async function readImages(
  items: readonly string[],
  limits: ImageLimits,
): Promise<Uint8Array[]> {
  const images: Uint8Array[] = [];
  let total = 0;
  for (const [i, raw] of items.entries()) {
    const item = `images[${i}]`;
    const bytes = await readOne(item, raw.trim(), limits);
    if (!FORMATS.some((format) => format.matches(bytes))) {
      throw new ToolFailure(
        `${item} is not a PNG, JPEG, WebP or GIF image (its bytes do not start like one).`,
      );
    }
    total += bytes.length;
    if (total > limits.maxTotalBytes) {
      throw new ToolFailure(
        `images come to more than ${megabytes(limits.maxTotalBytes)} in all (at ${item}); the limit is OLLAMA_MCP_IMAGES_MAX_TOTAL_BYTES.`,
      );
    }
    images.push(bytes);
  }
  return images;
}

async function readOne(item: string, value: string, limits: ImageLimits): Promise<Uint8Array> {
  const tooBig = (bytes: number) =>
    new ToolFailure(
      `${item} is ${megabytes(bytes)}; one image may be at most ${megabytes(limits.maxBytes)} (OLLAMA_MCP_IMAGE_MAX_BYTES).`,
    );
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^file:/i.test(value)) {
    throw new ToolFailure(
      `${item} is a URL, and URLs are not fetched: send the image itself as ${ALLOWED}.`,
    );
  }
  if (/^data:/i.test(value)) {
    const match = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/is.exec(value);
    const mime = match?.[1]?.toLowerCase() ?? "";
    if (!match || !/;base64/i.test(match[2] ?? "")) {
      throw new ToolFailure(`${item} is a data: URI that is not base64; send ${ALLOWED}.`);
    }
    if (!mime.startsWith("image/")) {
      throw new ToolFailure(
        `${item} is a data: URI of ${mime || "no type"}, not an image; send ${ALLOWED}.`,
      );
    }
    return decode(item, match[3] ?? "", limits.maxBytes, tooBig);
  }
  // A JPEG in base64 starts with "/9j/": it looks like an absolute path, but its bytes say what it is.
  if ((isAbsolute(value) || /^[a-z]:[\\/]/i.test(value)) && !isImageBase64(value)) {
    if (!limits.allowFiles) {
      throw new ToolFailure(
        `${item} is a file path, and over HTTP this server does not read its own disk for a caller: send the image itself as a data:image/...;base64, URI or plain base64.`,
      );
    }
    return readImageFile(item, value, limits.maxBytes, tooBig);
  }
  if (!isBase64(value) && looksLikeRelativePath(value)) {
    throw new ToolFailure(
      limits.allowFiles
        ? `${item} (${value}) looks like a relative file path: give an absolute path, such as /home/you/${value.replace(/^\.?[\\/]/, "")}, or the image itself as a data:image/...;base64, URI or plain base64.`
        : `${item} (${value}) looks like a file path, and over HTTP this server does not read its own disk for a caller: send the image itself as a data:image/...;base64, URI or plain base64.`,
    );
  }
  return decode(item, value, limits.maxBytes, tooBig);
}

function isBase64(value: string): boolean {
  const base64 = value.replace(/\s+/g, "");
  return base64.length > 0 && base64.length % 4 === 0 && BASE64.test(base64);
}

/** A name with an image's extension, or a path with a separator. */
function looksLikeRelativePath(value: string): boolean {
  return (
    value.length < 1_024 &&
    (/\.(png|jpe?g|gif|webp|bmp|tiff?|heic)$/i.test(value) ||
      /^\.{0,2}[\\/]|[\\/]\.|\\/.test(value))
  );
}

/** Why a file could not be opened, for people. */
function inWords(code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return "there is no file at that path";
    case "EACCES":
    case "EPERM":
      return "this server is not allowed to read it";
    case "EISDIR":
      return "it is a folder, not a file";
    case "ENOTDIR":
      return "a part of the path is not a folder";
    case "ELOOP":
      return "its symbolic links go round in a loop";
    case "ENAMETOOLONG":
      return "the path is too long";
    default:
      return "it could not be opened";
  }
}

/**
 * A regular file of 1 byte to `maxBytes`, read through one descriptor: what is checked is what
 * is read. The open does not block (a FIFO or a device would wait for a writer or the hardware),
 * and no more than the size checked is read, so a file that lies about its size (under /proc)
 * or never ends cannot hold the call or the file-system threads. A refusal names the path's
 * kind, never its content.
 */
async function readImageFile(
  item: string,
  path: string,
  maxBytes: number,
  tooBig: (bytes: number) => Error,
): Promise<Uint8Array> {
  const cannotRead = (error: unknown) =>
    new ToolFailure(
      `${item} (${path}) cannot be read: ${inWords((error as { code?: string }).code)}.`,
    );
  let file: FileHandle;
  try {
    file = await open(
      path,
      constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0),
    );
  } catch (error) {
    throw cannotRead(error);
  }
  try {
    const info = await file.stat();
    const kind = specialKind(info);
    if (kind) {
      throw new ToolFailure(
        `${item} (${path}) is ${kind}, not a regular file: only image files are read.`,
      );
    }
    if (info.size === 0) {
      throw new ToolFailure(
        `${item} (${path}) is empty, or a special file that does not report its size (as under /proc): only image files are read.`,
      );
    }
    if (info.size > maxBytes) throw tooBig(info.size);
    const bytes = Buffer.alloc(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await file.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, filled);
  } catch (error) {
    throw error instanceof ToolFailure ? error : cannotRead(error);
  } finally {
    await file.close().catch(() => {});
  }
}

/** What a path that is not a regular file is, in words. */
function specialKind(info: Stats): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a named pipe (FIFO)";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isSocket()) return "a socket";
  return "not a regular file";
}

function decode(
  item: string,
  text: string,
  maxBytes: number,
  tooBig: (bytes: number) => Error,
): Uint8Array {
  const base64 = text.replace(/\s+/g, "");
  if (!isBase64(base64)) {
    throw new ToolFailure(`${item} is not an image this server can take: send ${ALLOWED}.`);
  }
  const bytes =
    (base64.length / 4) * 3 - (base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0);
  if (bytes > maxBytes) throw tooBig(bytes);
  return new Uint8Array(Buffer.from(base64, "base64"));
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((value, i) => bytes[i] === value);
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
    : `${Math.ceil(bytes / 1024)} KiB`;
}

function isImageBase64(value: string): boolean {
  const base64 = value.replace(/\s+/g, "");
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) return false;
  const head = new Uint8Array(Buffer.from(base64.slice(0, 24), "base64"));
  return FORMATS.some((format) => format.matches(head));
}
