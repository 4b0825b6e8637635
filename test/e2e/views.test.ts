import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { EXTENSION_ID, RESOURCE_MIME_TYPE } from "@modelcontextprotocol/ext-apps/server";
import { build } from "esbuild";
import { type BrowserContext, chromium, type Frame, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatRequestBody } from "../fake-ollama-cloud.js";
import { listenOnLoopback } from "../loopback-server.js";
import { BIN, binEnv } from "../spawn-bin.js";
import { testTools } from "../test-tools.js";
import { useHttpBins } from "./http-harness.js";

/** Debian's chromium (.ci/run installs it), or the browser CHROMIUM names. */
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "../../test-results");
const MODELS = ["gpt-oss:120b", "qwen3-vl:235b", "glm-4.6:cloud"];

const run = promisify(execFile);
const t = useHttpBins();
let browser: BrowserContext;
let profile: string;
let host: { url: string; close(): Promise<void> };
/** Requests that reached the test's own server from the view: none may. */
const probes: string[] = [];

beforeAll(async () => {
  const script = await build({
    entryPoints: [join(import.meta.dirname, "view-host.mjs")],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
  });
  const js = script.outputFiles[0]?.text ?? "";
  host = await listenOnLoopback(async (req, res) => {
    if (req.url === "/host.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      return void res.end(js);
    }
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end(
        '<!doctype html><title>host</title><script type="module" src="/host.js"></script>',
      );
    }
    // The host page's own favicon is not the view's doing.
    if (req.url !== "/favicon.ico") probes.push(req.url ?? "");
    res.writeHead(204);
    res.end();
  });
  profile = mkdtempSync(join(tmpdir(), "ocm-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await host?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** A client that says it renders MCP Apps, as Claude, ChatGPT and VS Code do. */
async function appClient(url: string, advertise = true): Promise<Client> {
  const client = new Client(
    { name: "views-e2e", version: "1.0.0" },
    advertise
      ? { capabilities: { extensions: { [EXTENSION_ID]: { mimeTypes: [RESOURCE_MIME_TYPE] } } } }
      : {},
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

interface Rendered {
  page: Page;
  view: Frame;
  errors: string[];
}

/** Opens the host page and shows `tool`'s view of a real result from the server. */
async function render(
  client: Client,
  tool: string,
  input: Record<string, unknown>,
  theme: "light" | "dark",
) {
  const { tools } = await client.listTools();
  const meta = tools.find((x) => x.name === tool)?._meta as { ui: { resourceUri: string } };
  const read = await client.readResource({ uri: meta.ui.resourceUri });
  const content = read.contents[0] as unknown as { text: string; _meta: { ui: { csp: unknown } } };
  const result = await client.callTool({ name: tool, arguments: input });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(host.url);
  await page.waitForFunction("'showView' in window");
  const view = { html: content.text, csp: content._meta.ui.csp, input, result, theme };
  await page.evaluate(`showView(${JSON.stringify(view)})`);
  const frame = page.frames().find((frame) => frame !== page.mainFrame()) as Frame;
  return { page, view: frame, errors, content, result } satisfies Rendered &
    Record<string, unknown>;
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

describe("interactive views (MCP Apps), as the MCP Inspector CLI 2.12 sees them", () => {
  it("shows the ui:// view of cloud_usage and consensus, with their CSP, to a client that renders apps", async () => {
    const tools = await testTools();
    const env = Object.entries(binEnv(t.fake)).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
    const { stdout } = await run(
      tools.node22,
      [
        tools.bin("mcp-inspector"),
        "--cli",
        "--advertise-apps",
        "--method",
        "tools/list",
        "--app-info",
        ...env,
        process.execPath,
        BIN,
      ],
      { timeout: 120_000, env: { ...process.env, HOME: tmpdir() } },
    );
    const apps = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { toolName: string; hasApp: boolean })
      .filter((line) => line.hasApp);
    expect(apps).toEqual(
      ["consensus", "cloud_usage"].map((tool) => ({
        hasApp: true,
        toolName: tool,
        resourceUri: `ui://ollama-cloud-mcp/${tool}`,
        csp: { connectDomains: [], resourceDomains: [], frameDomains: [] },
        prefersBorder: true,
        resourceMimeType: "text/html;profile=mcp-app",
      })),
    );
  }, 120_000);
});

describe("interactive views (MCP Apps), rendered by the extension's AppBridge in Chromium", () => {
  it("lists its ui:// views only to clients that render them, and serves the page to any", async () => {
    const bin = await t.start();
    const plain = await appClient(bin.url, false);
    const apps = await appClient(bin.url);
    try {
      const uris = async (client: Client) =>
        (await client.listResources()).resources
          .map((r) => r.uri)
          .filter((u) => u.startsWith("ui://"));
      expect(await uris(plain)).toEqual([]);
      expect(await uris(apps)).toEqual([
        "ui://ollama-cloud-mcp/consensus",
        "ui://ollama-cloud-mcp/cloud_usage",
      ]);
      for (const client of [plain, apps]) {
        const read = await client.readResource({ uri: "ui://ollama-cloud-mcp/cloud_usage" });
        expect(read.contents[0]).toMatchObject({ mimeType: "text/html;profile=mcp-app" });
        const { text } = read.contents[0] as { text: string };
        expect(text).toMatch(/^<!doctype html>/);
        // Self-contained: no script, style or font from anywhere (the CSP test below shows it
        // loads nothing), and small.
        expect(text).not.toMatch(/<script[^>]+src=|<link\b/i);
        const style = /<style>([\s\S]*?)<\/style>/.exec(text)?.[1] ?? "";
        expect(style).not.toMatch(/url\(|@import|@font-face/i);
        expect(Buffer.byteLength(text)).toBeLessThan(450_000);
      }
      // A client without the extension gets the text result it always got.
      const result = await plain.callTool({ name: "cloud_usage", arguments: {} });
      expect((result.content as { type: string; text: string }[])[0]?.text).toMatch(/^Credits: /);
    } finally {
      await plain.close();
      await apps.close();
    }
  });

  it("shows cloud_usage's balance and a bar per day, by keyboard too, under a CSP that lets nothing out", async () => {
    const bin = await t.start();
    const client = await appClient(bin.url);
    try {
      const shown = await render(client, "cloud_usage", { range: "7d" }, "light");
      const { view, page, errors } = shown;
      const buckets = (shown.result.structuredContent as { usage: { buckets: unknown[] } }).usage
        .buckets;
      await view.waitForSelector(".chart .bar");
      expect(await view.locator(".bar").count()).toBe(buckets.length);
      expect(await view.locator("[role=meter]").getAttribute("aria-valuetext")).toMatch(
        /^\$\d+\.\d\d of \$\d+\.\d\d left, renews /,
      );
      await screenshot(page, "view-cloud-usage");

      // One tab stop for the chart; the arrows move along it, and the tip follows.
      await view.locator(".bar").first().focus();
      await page.keyboard.press("ArrowRight");
      const focused = await view.evaluate<string>(
        "document.activeElement.getAttribute('aria-label')",
      );
      expect(focused).toMatch(/^\d{4}-\d\d-\d\d, \$[\d.]+, \d+ requests/);
      expect(await view.locator(".tip").textContent()).toBe(focused);
      expect(errors).toEqual([]);

      // The CSP the view declared lets nothing out: a request from it never arrives.
      const attempt = await view.evaluate<string>(
        `fetch(${JSON.stringify(`${host.url}/probe`)}).then(() => "sent", () => "blocked")`,
      );
      expect(attempt).toBe("blocked");
      expect(probes).toEqual([]);
      await page.close();
    } finally {
      await client.close();
    }
  }, 60_000);

  it("shows consensus's synthesis on top and each answer side by side, a failed one marked, in the host's dark theme", async () => {
    const bin = await t.start();
    t.fake.chatResponder = (request: ChatRequestBody) =>
      request.messages[0]?.content.startsWith("Several models answered")
        ? { content: "They agree on 42; glm-4.6 failed." }
        : { content: `${request.model} thinks 42.` };
    t.fake.inject("chat", { status: 500, body: { error: "glm down" } }, 1, { model: "glm-4.6" });
    const client = await appClient(bin.url);
    try {
      const { view, page, errors } = await render(
        client,
        "consensus",
        { prompt: "Q?", models: MODELS },
        "dark",
      );
      await view.waitForSelector(".answers .answer");
      expect(await view.locator(".synthesis .text").textContent()).toBe(
        "They agree on 42; glm-4.6 failed.",
      );
      expect(await view.locator(".answer h3").allTextContents()).toEqual([
        "gpt-oss:120b",
        "qwen3-vl:235b",
        "glm-4.6:cloudfailed",
      ]);
      expect(await view.locator(".answer.failed .error").textContent()).toMatch(/glm down/);
      expect(await view.locator(".answer:not(.failed) .text").allTextContents()).toEqual([
        "gpt-oss:120b thinks 42.",
        "qwen3-vl:235b thinks 42.",
      ]);
      // The host's theme: its colours, and a dark scheme.
      expect(await view.evaluate("document.documentElement.dataset.theme")).toBe("dark");
      expect(await view.evaluate("getComputedStyle(document.body).backgroundColor")).toBe(
        "rgb(13, 17, 23)",
      );
      await view.locator(".answer").first().focus();
      expect(await view.evaluate("document.activeElement.tagName")).toBe("ARTICLE");
      expect(errors).toEqual([]);
      await screenshot(page, "view-consensus");
      await page.close();
    } finally {
      await client.close();
    }
  }, 60_000);
});

afterAll(() => {
  // The page the tests rendered is the built one: a stale dist would show old views.
  expect(
    readFileSync(join(import.meta.dirname, "../../dist/views/ollama-cloud.html"), "utf8"),
  ).toMatch(/^<!doctype html>/);
});
