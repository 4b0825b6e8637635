import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatRequestBody } from "./fake-ollama-cloud.js";
import { textOf, useServers } from "./harness.js";

const t = useServers();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ocm-images-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const server = (env: Record<string, string> = {}, transport: "stdio" | "http" = "stdio") =>
  t.server(env, { transport });

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from("IHDR-png-body"),
]);
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from("jpeg-body")]);
const GIF = Buffer.from("GIF89a-gif-body");
const WEBP = Buffer.concat([
  Buffer.from("RIFF"),
  Buffer.from([1, 0, 0, 0]),
  Buffer.from("WEBPVP8 body"),
]);
const VISION = "qwen3-vl:235b";
const imagesSent = () =>
  t.fake
    .requestsTo("/api/chat")
    .map((r) => (r.body as ChatRequestBody).messages.map((m) => m.images ?? []));

describe("cloud_chat images", () => {
  it("sends a data: URI, plain base64 and (over stdio) a file, as base64, with the prompt", async () => {
    const mcp = await server();
    const file = join(dir, "photo.gif");
    writeFileSync(file, GIF);
    const result = await mcp.call("cloud_chat", {
      prompt: "What is in these?",
      model: VISION,
      images: [
        `data:image/png;base64,${PNG.toString("base64")}`,
        JPEG.toString("base64"),
        file,
        WEBP.toString("base64"),
      ],
    });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(imagesSent()).toEqual([[[PNG, JPEG, GIF, WEBP].map((b) => b.toString("base64"))]]);
    // The conversation keeps a note of the images, not their bytes.
    await mcp.call("cloud_chat", {
      prompt: "And now?",
      model: VISION,
      conversation_id: (result.structuredContent as { conversation_id: string }).conversation_id,
    });
    const later =
      (t.fake.requestsTo("/api/chat")[1]?.body as ChatRequestBody | undefined)?.messages ?? [];
    expect(later[0]?.content).toBe(
      "What is in these?\n\n[4 images were attached here; images are not kept in the conversation.]",
    );
    expect(later.flatMap((m) => m.images ?? [])).toEqual([]);
  });

  it.each([
    [["https://example.com/cat.png"], /^images\[0\] is a URL, and URLs are not fetched/],
    [["file:///etc/passwd"], /^images\[0\] is a URL, and URLs are not fetched/],
    [
      [Buffer.from("hello, not an image").toString("base64")],
      /^images\[0\] is not a PNG, JPEG, WebP or GIF image/,
    ],
    [
      ["data:text/plain;base64,aGVsbG8="],
      /^images\[0\] is a data: URI of text\/plain, not an image/,
    ],
    [["data:image/png,rawbytes"], /^images\[0\] is a data: URI that is not base64/],
    [
      ["cat.png"],
      /^images\[0\] \(cat\.png\) looks like a relative file path: give an absolute path, such as \/home\/you\/cat\.png,/,
    ],
    [
      ["/no/such/file.png"],
      /^images\[0\] \(\/no\/such\/file\.png\) cannot be read: there is no file at that path\.$/,
    ],
    [
      [PNG.toString("base64"), "%%%"],
      /^images\[1\] is not an image this server can take: send a data:image\/\.\.\.;base64, URI, plain base64, or \(over stdio\) an absolute file path\.$/,
    ],
  ])("refuses %j, naming the item, and sends nothing", async (images, message) => {
    const mcp = await server();
    const result = await mcp.call("cloud_chat", { prompt: "x", model: VISION, images });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(message);
    expect(t.fake.requests).toHaveLength(0);
  });

  it("refuses images past the size limits", async () => {
    const mcp = await server({
      OLLAMA_MCP_IMAGE_MAX_BYTES: "2048",
      OLLAMA_MCP_IMAGES_MAX_TOTAL_BYTES: "3000",
    });
    const big = Buffer.concat([PNG, Buffer.alloc(4000)]).toString("base64");
    const one = await mcp.call("cloud_chat", { prompt: "x", model: VISION, images: [big] });
    expect(textOf(one)).toMatch(
      /^images\[0\] is 4 KiB; one image may be at most 2 KiB \(OLLAMA_MCP_IMAGE_MAX_BYTES\)/,
    );
    const medium = Buffer.concat([PNG, Buffer.alloc(1500)]).toString("base64");
    const all = await mcp.call("cloud_chat", {
      prompt: "x",
      model: VISION,
      images: [medium, medium],
    });
    expect(textOf(all)).toMatch(/^images come to more than 3 KiB in all \(at images\[1\]\)/);
    const many = await mcp.call("cloud_chat", {
      prompt: "x",
      images: Array(9).fill(PNG.toString("base64")),
    });
    expect(textOf(many)).toMatch(/images may hold at most 8 images/);
    expect(t.fake.requests).toHaveLength(0);
  });

  it("never reads its own disk for a caller over HTTP", async () => {
    const mcp = await server({}, "http");
    const file = join(dir, "photo.png");
    writeFileSync(file, PNG);
    const result = await mcp.call("cloud_chat", { prompt: "x", model: VISION, images: [file] });
    expect(textOf(result)).toMatch(
      /^images\[0\] is a file path, and over HTTP this server does not read its own disk/,
    );
    expect(t.fake.requests).toHaveLength(0);
  });

  it("refuses images for a model that says it cannot see, naming models that can", async () => {
    const mcp = await server();
    const result = await mcp.call("cloud_chat", {
      prompt: "x",
      model: "gpt-oss:120b",
      images: [PNG.toString("base64")],
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(
      `Model "gpt-oss:120b" cannot take images: it does not list vision among its capabilities. Models on Ollama's cloud that can: ${VISION}.`,
    );
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(0);
  });

  it("turns the service's own refusal into the same advice where it cannot say what a model can do", async () => {
    const mcp = await server();
    t.fake.showOffered = false;
    const result = await mcp.call("cloud_chat", {
      prompt: "x",
      model: "gpt-oss:120b",
      images: [PNG.toString("base64")],
    });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /^Model "gpt-oss:120b" cannot take images: the service said ".*missing data required for image input.*"\. Pick a model whose capabilities include "vision" in list_models\.$/,
    );
    expect(t.fake.requestsTo("/api/chat")).toHaveLength(1);
  });

  it("names the default model when the call names none", async () => {
    const mcp = await server();
    const result = await mcp.call("cloud_chat", { prompt: "x", images: [PNG.toString("base64")] });
    expect(textOf(result)).toBe(
      `The default model, gpt-oss:120b, cannot take images: it does not list vision among its capabilities. Models on Ollama's cloud that can: ${VISION}.`,
    );
  });

  describe("files by path: one open that cannot block, a regular file within the cap, nothing more read", () => {
    const refused = async (path: string, env: Record<string, string> = {}) => {
      const mcp = await server(env);
      const started = Date.now();
      const result = await mcp.call("cloud_chat", { prompt: "x", model: VISION, images: [path] });
      expect(result.isError).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(t.fake.requests).toHaveLength(0);
      return textOf(result);
    };

    it.skipIf(!existsSync("/proc/self/pagemap"))(
      "refuses a /proc file that reports size 0 at once, without reading it",
      async () => {
        expect(await refused("/proc/self/pagemap")).toBe(
          "images[0] (/proc/self/pagemap) is empty, or a special file that does not report its size (as under /proc): only image files are read.",
        );
      },
    );

    it("refuses a named pipe without waiting for a writer, and four of them leave later files readable", async () => {
      const fifo = join(dir, "pipe.png");
      execFileSync("mkfifo", [fifo]);
      for (let i = 0; i < 5; i++) {
        expect(await refused(fifo)).toBe(
          `images[0] (${fifo}) is a named pipe (FIFO), not a regular file: only image files are read.`,
        );
      }
      const file = join(dir, "after-pipes.png");
      writeFileSync(file, PNG);
      const mcp = await server();
      const ok = await mcp.call("cloud_chat", { prompt: "x", model: VISION, images: [file] });
      expect(ok.isError, textOf(ok)).toBeFalsy();
    });

    it.each([
      ["/dev/zero", "a character device"],
      ["/dev/null", "a character device"],
    ])("refuses the device %s by its kind", async (path, kind) => {
      expect(await refused(path)).toBe(
        `images[0] (${path}) is ${kind}, not a regular file: only image files are read.`,
      );
    });

    it("refuses a directory, an empty file and a file over the cap, naming each by kind or size", async () => {
      const folder = join(dir, "folder.png");
      mkdirSync(folder, { recursive: true });
      expect(await refused(folder)).toBe(
        `images[0] (${folder}) is a directory, not a regular file: only image files are read.`,
      );
      const empty = join(dir, "empty.png");
      writeFileSync(empty, "");
      expect(await refused(empty)).toMatch(/^images\[0\] \(.*empty\.png\) is empty/);
      const big = join(dir, "big.png");
      writeFileSync(big, Buffer.concat([PNG, Buffer.alloc(5000)]));
      expect(await refused(big, { OLLAMA_MCP_IMAGE_MAX_BYTES: "2048" })).toMatch(
        /^images\[0\] is 5 KiB; one image may be at most 2 KiB \(OLLAMA_MCP_IMAGE_MAX_BYTES\)/,
      );
    });
  });
});
