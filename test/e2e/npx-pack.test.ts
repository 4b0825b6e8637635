import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
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
import { TOOL_NAMES, useFake } from "../harness.js";
import { assertBuilt, binEnv } from "../spawn-bin.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** npm settings inherited from an outer `npm test` or `npx -c` (such as its `call`) must not leak in. */
const npmEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))),
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
};

let work: string;
let tarball: string;
const t = useFake();

beforeAll(async () => {
  assertBuilt();
  work = mkdtempSync(join(tmpdir(), "ocm-pack-"));
  const { stdout } = await run(
    "npm",
    ["pack", "--json", "--ignore-scripts", "--pack-destination", work],
    {
      cwd: ROOT,
      env: npmEnv,
    },
  );
  tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]?.filename as string);
}, 120_000);
afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("runs with `npx -y ./ollama-cloud-mcp-<version>.tgz` from any directory", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "ocm-npx-"));
    try {
      copyFileSync(tarball, join(elsewhere, `ollama-cloud-mcp-${pkg.version}.tgz`));
      const npx = (args: string[]) =>
        run("npx", ["-y", `./ollama-cloud-mcp-${pkg.version}.tgz`, ...args], {
          cwd: elsewhere,
          env: npmEnv,
        });
      expect((await npx(["--version"])).stdout.trim()).toBe(pkg.version);
      const help = (await npx(["--help"])).stdout;
      for (const name of [
        "OLLAMA_API_KEY",
        "OLLAMA_CLOUD_HOST",
        "--http",
        "MCP_HTTP_TOKEN",
        "[default: 120000]",
      ]) {
        expect(help).toContain(name);
      }
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 120_000);

  it("installs as one package with no dependencies, and the installed bin serves the tools", async () => {
    const prefix = join(work, "install");
    await run("npm", ["install", "--prefix", prefix, tarball], { env: npmEnv });
    expect(readdirSync(join(prefix, "node_modules")).filter((n) => !n.startsWith("."))).toEqual([
      "ollama-cloud-mcp",
    ]);
    const transport = new StdioClientTransport({
      command: join(prefix, "node_modules", ".bin", "ollama-cloud-mcp"),
      env: binEnv(t.fake),
      stderr: "ignore",
    });
    const client = new Client(
      { name: "pack-test", version: "1.0.0" },
      // 2026-07-28, where clients ask for skills.
      { versionNegotiation: { mode: "auto" } },
    );
    await client.connect(transport);
    try {
      expect((await client.listTools()).tools).toHaveLength(TOOL_NAMES.length);
      // The skills ship beside the bundle, and are served from there.
      const { skills } = await new SkillsClient(client).list();
      expect(skills.map((skill) => skill.frontmatter.name)).toEqual(SKILL_NAMES);
      // So does the views' page, read when asked.
      const view = await client.readResource({ uri: "ui://ollama-cloud-mcp/cloud_usage" });
      expect((view.contents[0] as { text: string }).text).toMatch(/^<!doctype html>/);
      const result = (await client.callTool({
        name: "web_search",
        arguments: { query: "packed" },
      })) as CallToolResult;
      expect(result.isError).toBeFalsy();
    } finally {
      await client.close();
    }
  }, 120_000);
});
