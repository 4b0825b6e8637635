import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import pkg from "../package.json" with { type: "json" };
import { generatedDocs } from "../scripts/docs.js";
import server from "../server.json" with { type: "json" };
import { HTTP_SETTINGS, SETTINGS } from "../src/config.js";
import { TOOL_NAMES } from "../src/tools/all.js";

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
const DOCS = [
  "README.md",
  "CONTRIBUTING.md",
  ...readdirSync(new URL("../docs", import.meta.url)).map((f) => `docs/${f}`),
];

describe("the docs", () => {
  it("hold what npm run docs writes from the code: settings, tools, their weights", async () => {
    for (const { file, now, wanted } of await generatedDocs()) {
      expect(now, `${file} is out of date: run npm run docs`).toBe(wanted);
    }
  });

  it("name every setting in docs/configuration.md", () => {
    const configuration = read("docs/configuration.md");
    for (const setting of [...Object.values(SETTINGS), ...Object.values(HTTP_SETTINGS)]) {
      expect(configuration, setting.env).toContain(`\`${setting.env}\``);
    }
  });

  it("keep the README to one screen up to a connected client", () => {
    expect(read("README.md").split("\n").length).toBeLessThanOrEqual(250);
  });

  it("mark as json only what parses as JSON", () => {
    for (const file of DOCS) {
      for (const [, block] of read(file).matchAll(/```json\n([\s\S]*?)```/g)) {
        expect(() => JSON.parse(block as string), `${file}:\n${block}`).not.toThrow();
      }
    }
    const example = JSON.parse(read("mcp.json.example")) as Record<string, { mcpServers?: object }>;
    const desktop = Object.entries(example).find(([key]) => key.startsWith("Claude Desktop"));
    // Claude Desktop starts local servers only: every entry it reads has a command.
    for (const entry of Object.values(desktop?.[1].mcpServers ?? { none: {} })) {
      expect(entry).toHaveProperty("command");
    }
  });

  it("link only to files and headings that exist", () => {
    const slug = (heading: string) =>
      heading
        .toLowerCase()
        .replace(/[`*]/g, "")
        .replace(/[^\w\- ]/g, "")
        .replace(/ /g, "-");
    for (const file of DOCS) {
      const base = new URL(`../${file}`, import.meta.url);
      const prose = read(file)
        .replace(/```[\s\S]*?```/g, "")
        .replace(/`[^`\n]*`/g, "");
      for (const [, target] of prose.matchAll(/\]\(((?!https?:|mailto:)[^)\s]+)\)/g)) {
        const [path = "", anchor] = (target as string).split("#");
        const into = path ? new URL(path, base) : base;
        const text = readFileSync(into, "utf8");
        if (anchor && into.pathname.endsWith(".md")) {
          const headings = [...text.matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1] as string));
          expect(headings, `${file} links to ${target}`).toContain(anchor);
        }
      }
    }
  });

  it("name every tool in the package's, the registry's and the bundle's descriptions", () => {
    for (const name of TOOL_NAMES) {
      expect(pkg.description, name).toContain(name);
      expect(server.description, name).toContain(name);
    }
  });
});
