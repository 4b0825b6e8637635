import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../loopback-server.js";
import type { HttpBin } from "../spawn-bin.js";
import { testTools } from "../test-tools.js";
import { useHttpBins } from "./http-harness.js";

const run = promisify(execFile);

interface Check {
  id: string;
  status: "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO";
  errorMessage?: string;
}

const t = useHttpBins();
const out = mkdtempSync(join(tmpdir(), "ocm-conformance-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs one scenario of the suite (0.2.0-alpha.12, on Node 22) and reads back its checks. */
async function scenario(bin: HttpBin, name: string): Promise<Check[]> {
  const tools = await testTools();
  const dir = join(out, name);
  // The suite exits 1 when a check fails; the checks say which.
  await run(
    tools.node22,
    [tools.bin("conformance"), "server", "--url", bin.url, "--scenario", name, "-o", dir],
    { timeout: 120_000 },
  ).catch(() => undefined);
  const [runDir] = readdirSync(dir);
  if (!runDir) throw new Error(`conformance wrote no results for ${name}`);
  return JSON.parse(readFileSync(join(dir, runDir, "checks.json"), "utf8")) as Check[];
}

const failed = (checks: Check[]) =>
  checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING").map((c) => c.id);

describe("the MCP conformance suite 0.2.0-alpha.12", () => {
  it("passes 2026-07-28: http-header-validation whole, caching for tools, server-stateless but for the suite's own tools", async () => {
    const bin = await t.start();
    expect(failed(await scenario(bin, "http-header-validation"))).toEqual([]);

    const caching = await scenario(bin, "caching");
    expect(caching.find((c) => c.id === "sep-2549-tools-list-caching-hints")?.status).toBe(
      "SUCCESS",
    );
    // Resources are the skills' (and cached like tools/list); there are no prompts, so that list
    // is method-not-found.
    expect(caching.filter((c) => c.status === "FAILURE")).toEqual([
      expect.objectContaining({
        id: "sep-2549-prompts-list-caching-hints",
        errorMessage: expect.stringMatching(/-32601/),
      }),
    ]);

    // The rest need tools only the suite's own test server has (test_missing_capability,
    // test_logging_tool and the like), and say so. (No-log-without-logLevel is checked by
    // eras.test.ts with our own tools.)
    const stateless = await scenario(bin, "server-stateless");
    expect(stateless.filter((c) => c.status === "SUCCESS").length).toBeGreaterThanOrEqual(24);
    expect(stateless.filter((c) => c.status === "WARNING")).toEqual([]);
    for (const check of stateless.filter((c) => c.status === "FAILURE")) {
      expect(check.errorMessage, check.id).toMatch(
        /^Not testable: server does not list the diagnostic tool 'test_/,
      );
    }
  }, 300_000);

  it("still passes the 2025-era scenarios it passed on the v1 SDK", async () => {
    const bin = await t.start();
    for (const name of [
      "server-initialize",
      "server-session-lifecycle",
      "logging-set-level",
      "ping",
      "tools-list",
      "server-sse-multiple-streams",
      "dns-rebinding-protection",
    ]) {
      expect(failed(await scenario(bin, name)), name).toEqual([]);
    }
  }, 300_000);
});

describe("the conformance suite's skills scenarios (SEP-2640)", () => {
  it("passes sep-2640-skills-*, but the subfolder check that needs a skill with a subfolder", async () => {
    const bin = await t.start();
    for (const name of ["sep-2640-skills-enumeration", "sep-2640-skills-manifest"]) {
      expect(failed(await scenario(bin, name)), name).toEqual([]);
    }
    const directory = await scenario(bin, "sep-2640-skills-directory");
    expect(directory.filter((c) => c.status === "SUCCESS").length).toBeGreaterThanOrEqual(6);
    // Ours have no subfolder; a bare SDK 2.4.0 server with one fails this check too (docs/tools.md).
    expect(directory.filter((c) => c.status !== "SUCCESS")).toEqual([
      expect.objectContaining({
        id: "sep-2640-directory-read-subdir-mimetype",
        errorMessage: expect.stringMatching(
          /^Not testable: no child with mimeType inode\/directory/,
        ),
      }),
    ]);
  }, 300_000);
});

describe("the conformance suite's authorization server scenarios", () => {
  it("passes authorization-server-metadata-endpoint with no warning, CIMD included", async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    await t.start(["--port", String(port)], {
      OLLAMA_API_KEY: undefined,
      MCP_HTTP_AUTH: "oauth",
      MCP_PUBLIC_URL: issuer,
      MCP_OAUTH_SECRET: "conformance-secret-of-more-than-32-bytes-0123",
    });
    const tools = await testTools();
    const dir = join(out, "authorization");
    await run(
      tools.node22,
      [
        tools.bin("conformance"),
        "authorization",
        "--url",
        issuer,
        "--scenario",
        "authorization-server-metadata-endpoint",
        "-o",
        dir,
      ],
      { timeout: 120_000 },
    ).catch(() => undefined);
    const [runDir] = readdirSync(dir);
    const checks = JSON.parse(
      readFileSync(join(dir, runDir as string, "checks.json"), "utf8"),
    ) as Check[];
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["authorization-server-metadata", "SUCCESS"],
      ["authorization-server-metadata-cimd", "SUCCESS"],
    ]);
  }, 180_000);
});
