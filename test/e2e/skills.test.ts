import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { BIN, binEnv } from "../spawn-bin.js";
import { testTools } from "../test-tools.js";
import { useHttpBins } from "./http-harness.js";

const run = promisify(execFile);
const t = useHttpBins();

/**
 * `mcp-inspector --cli ... --protocol-era modern --method skills/list --verify`: each skill's
 * outcome, and the verdict (on stderr); or the error it reports, when the server serves none.
 */
async function verify(
  target: string[],
): Promise<{ skills: string[]; verdict: string } | { error: string }> {
  const tools = await testTools();
  const answer = await run(
    tools.node22,
    [
      tools.bin("mcp-inspector"),
      "--cli",
      "--protocol-era",
      "modern",
      "--method",
      "skills/list",
      "--verify",
      ...target,
    ],
    { timeout: 120_000, env: { ...process.env, HOME: tmpdir() } },
  ).catch((failure: { stdout: string; stderr: string }) => failure);
  // The error comes on stderr, as one JSON line.
  const error = /^\{"error":\{"code":"([^"]+)"/m.exec(answer.stderr)?.[1];
  if (error) return { error };
  const lines = answer.stdout.trim().split("\n");
  const skills = lines
    .map((line) => JSON.parse(line) as { name: string; outcome: string })
    .map((skill) => `${skill.name}: ${skill.outcome}`);
  const verdict =
    answer.stderr.split("\n").find((line) => line.startsWith("Verified")) ?? answer.stderr;
  return { skills, verdict };
}

/** The bin over stdio, for the Inspector to start with these settings. */
const stdio = (env: Record<string, string> = {}) => [
  ...Object.entries(binEnv(t.fake, env)).flatMap(([key, value]) => ["-e", `${key}=${value}`]),
  process.execPath,
  BIN,
];

describe("skills, as the MCP Inspector CLI 2.12 verifies them over 2026-07-28", () => {
  it("verifies every skill and file over stdio and HTTP", async () => {
    const wanted = {
      skills: ["cloud-costs: verified", "second-opinion: verified", "web-research: verified"],
      verdict: "Verified 3 skills and 3 files: no conformance errors.",
    };
    expect(await verify(stdio())).toEqual(wanted);
    const bin = await t.start();
    expect(await verify([bin.url])).toEqual(wanted);
  }, 180_000);

  it("lists no skill for a tool that --tools turned off", async () => {
    const bin = await t.start(["--tools", "cloud_chat,consensus,list_models,cloud_usage"]);
    expect(await verify([bin.url])).toEqual({
      skills: ["cloud-costs: verified", "second-opinion: verified"],
      verdict: "Verified 2 skills and 2 files: no conformance errors.",
    });
    expect(await verify(stdio({ OLLAMA_MCP_TOOLS: "web_search" }))).toEqual({
      error: "skills_unsupported",
    });
  }, 180_000);
});
