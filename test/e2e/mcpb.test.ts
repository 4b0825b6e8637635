import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { CallToolResult } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/client";
import { SkillsClient } from "@modelcontextprotocol/client/ext/skills";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SKILL_NAMES = ["cloud-costs", "second-opinion", "web-research"];

import pkg from "../../package.json" with { type: "json" };
import { TOOL_NAMES } from "../../src/tools/all.js";
import { FAKE_API_KEY } from "../fake-ollama-cloud.js";
import { textOf, useFake } from "../harness.js";
import { assertBuilt } from "../spawn-bin.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MCPB = join(ROOT, "node_modules", ".bin", "mcpb");

interface Manifest {
  name: string;
  version: string;
  server: {
    entry_point: string;
    mcp_config: { command: string; args: string[]; env: Record<string, string> };
  };
  tools: { name: string; description: string }[];
  user_config: Record<string, { type: string; sensitive?: boolean; default?: unknown }>;
}

let work: string;
let unpacked: string;
let manifest: Manifest;
let printed: string;
const t = useFake();

beforeAll(async () => {
  assertBuilt();
  work = mkdtempSync(join(tmpdir(), "ocm-mcpb-"));
  printed = (
    await run(process.execPath, [join(ROOT, "scripts", "mcpb.mjs"), "--out", work], { cwd: ROOT })
  ).stdout;
  unpacked = join(work, "unpacked");
  await run(MCPB, ["unpack", join(work, `ollama-cloud-mcp-${pkg.version}.mcpb`), unpacked]);
  manifest = JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8"));
}, 120_000);
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
});

it("lists the bundle's own paths, names the file once, and ends with how to install it", () => {
  expect(printed).toMatch(/^ +[\d.]+k?B manifest\.json$/m);
  expect(printed).toMatch(/^ +[\d.]+k?B server\/index\.cjs$/m);
  expect(printed).not.toContain("../");
  expect(printed.split(`ollama-cloud-mcp-${pkg.version}.mcpb`).length - 1).toBe(2);
  expect(printed.trimEnd().split("\n").at(-1)).toBe(
    "To install it: double-click the file, or drag it onto Claude Desktop's Settings → Extensions, and fill in your Ollama API key there.",
  );
});

/** Starts the bundle as an MCPB client would: the manifest's command, with its settings filled in. */
async function startBundle(userConfig: Record<string, string | undefined>) {
  const fill = (text: string) =>
    text
      .replace("${__dirname}", unpacked)
      .replace(
        /\$\{user_config\.(\w+)\}/g,
        (placeholder, key: string) => userConfig[key] ?? placeholder,
      );
  const { command, args, env } = manifest.server.mcp_config;
  const transport = new StdioClientTransport({
    command: command === "node" ? process.execPath : command,
    args: args.map(fill),
    env: {
      PATH: process.env.PATH ?? "",
      ...Object.fromEntries(Object.entries(env).map(([name, value]) => [name, fill(value)])),
      OLLAMA_CLOUD_HOST: t.fake.url,
    },
    stderr: "pipe",
  });
  const client = new Client(
    { name: "mcpb-test", version: "1.0.0" },
    // 2026-07-28, where clients ask for skills.
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(transport);
  return client;
}

describe("the MCP Bundle", () => {
  it("is built by npm run mcpb into ollama-cloud-mcp-<version>.mcpb, and validates with the official CLI", async () => {
    expect(existsSync(join(work, `ollama-cloud-mcp-${pkg.version}.mcpb`))).toBe(true);
    await run(MCPB, ["validate", join(unpacked, "manifest.json")]);
    expect(manifest).toMatchObject({ name: "ollama-cloud-mcp", version: pkg.version });
    expect(existsSync(join(unpacked, manifest.server.entry_point))).toBe(true);
    expect(manifest.tools.map((t) => t.name)).toEqual(TOOL_NAMES);
  });

  it("asks for the API key (kept secret), the mode and the local Ollama, and maps them to the environment", () => {
    expect(manifest.user_config).toMatchObject({
      api_key: { type: "string", sensitive: true, default: "" },
      mode: { type: "string", default: "cloud" },
      ollama_host: { type: "string", default: "http://127.0.0.1:11434" },
    });
    expect(manifest.server.mcp_config.env).toEqual({
      OLLAMA_API_KEY: "${user_config.api_key}",
      OLLAMA_MODE: "${user_config.mode}",
      OLLAMA_HOST: "${user_config.ollama_host}",
    });
  });

  it("starts from its entry point, lists the tools and calls one", async () => {
    const client = await startBundle({
      api_key: FAKE_API_KEY,
      mode: "cloud",
      ollama_host: "http://127.0.0.1:11434",
    });
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(TOOL_NAMES);
      // The skills ship beside the bundle, and are served from there.
      const { skills } = await new SkillsClient(client).list();
      expect(skills.map((skill) => skill.frontmatter.name)).toEqual(SKILL_NAMES);
      // So does the views' page, read when asked.
      const view = await client.readResource({ uri: "ui://ollama-cloud-mcp/cloud_usage" });
      expect((view.contents[0] as { text: string }).text).toMatch(/^<!doctype html>/);
      const result = (await client.callTool({
        name: "web_search",
        arguments: { query: "bundle" },
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
    } finally {
      await client.close();
    }
  });

  it("still starts when the client passes settings left empty as their raw placeholders", async () => {
    const client = await startBundle({});
    try {
      expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
      const result = (await client.callTool({
        name: "web_search",
        arguments: { query: "q" },
      })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/OLLAMA_API_KEY is not set/);
    } finally {
      await client.close();
    }
  });
});
