import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SKILL_LIMITS, SkillsClient } from "@modelcontextprotocol/client/ext/skills";
import { afterEach, describe, expect, it } from "vitest";
import { compose, SKILLS_DIR } from "../src/compose.js";
import { resolveConfig } from "../src/config.js";
import { shippedSkills } from "../src/skills.js";
import { JOB_TOOLS, TOOL_NAMES } from "../src/tools/all.js";
import { type Connected, connect, useFake } from "./harness.js";

const t = useFake();
const open: Connected[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((mcp) => mcp.close()));
});

async function skillsOf(env: Record<string, string> = {}) {
  const mcp = await connect(t.fake, env);
  open.push(mcp);
  const client = new SkillsClient(mcp.client);
  // Listing from a server without the extension would say so on the console.
  const { skills } = client.supported ? await client.list() : { skills: [] };
  return { client, skills, names: skills.map((skill) => skill.frontmatter.name) };
}

const toolsOf = (frontmatter: Record<string, unknown>) =>
  String((frontmatter.metadata as Record<string, string>).tools).split(/\s+/);

describe("skills served over MCP (SEP-2640)", () => {
  it("serves every skill in skills/, each verified against its digest and within the limits", async () => {
    const { client, skills, names } = await skillsOf();
    expect(names).toEqual(readdirSync(SKILLS_DIR).sort());
    expect(names).toEqual(["cloud-costs", "second-opinion", "web-research"]);
    // The tools read from each SKILL.md at start are those its frontmatter, parsed, names.
    expect(shippedSkills(SKILLS_DIR).map((skill) => skill.tools)).toEqual(
      skills.map((skill) => toolsOf(skill.frontmatter)),
    );
    for (const skill of skills) {
      const file = await client.read(skill);
      expect(file.verified, skill.uri).toBe(true);
      const resources = skill.resources as { size: number }[];
      expect(resources.length).toBeLessThanOrEqual(SKILL_LIMITS.files);
      expect(resources.reduce((sum, r) => sum + r.size, 0)).toBeLessThanOrEqual(SKILL_LIMITS.bytes);
    }
  });

  it("lists a skill only when the server offers every tool it teaches", async () => {
    expect(
      (await skillsOf({ OLLAMA_MCP_TOOLS: "web_search,web_fetch,search_and_summarize,research" }))
        .names,
    ).toEqual(["web-research"]);
    expect((await skillsOf({ OLLAMA_MCP_TOOLS: "cloud_usage,web_search" })).names).toEqual([
      "cloud-costs",
    ]);
    const none = await skillsOf({ OLLAMA_MCP_TOOLS: "web_search" });
    expect(none.names).toEqual([]);
    expect(none.client.supported).toBe(false);
  });

  it("are served to 2026-07-28 servers only: a 2025 one is made without them", async () => {
    const services = await compose({
      config: resolveConfig({}, { OLLAMA_API_KEY: "k" }),
      transport: "stdio",
      log: { log: () => {} },
    });
    const legacy = services.newServer();
    expect(legacy.server.getCapabilities().extensions).toBeUndefined();
    const modern = await services.newServer("modern");
    expect(Object.keys(modern.server.getCapabilities().extensions ?? {})).toEqual([
      "io.modelcontextprotocol/skills",
    ]);
    await services.store.close();
  });

  it("leave the tools served when they cannot be read, and say why", async () => {
    const logged: string[] = [];
    const services = await compose({
      config: resolveConfig({}, { OLLAMA_API_KEY: "k" }),
      transport: "stdio",
      log: { log: (level, message) => logged.push(`${level}: ${message}`) },
      skillsDir: join(SKILLS_DIR, "no-such-folder"),
    });
    const modern = await services.newServer("modern");
    expect(modern.server.getCapabilities().extensions).toBeUndefined();
    expect(modern.server.getCapabilities().tools).toBeDefined();
    expect(logged).toEqual([expect.stringMatching(/^warning: the skills are not served: ENOENT/)]);
    await services.store.close();
  });

  it("teach tools this server has, and name no other", () => {
    for (const folder of readdirSync(SKILLS_DIR)) {
      const text = readFileSync(join(SKILLS_DIR, folder, "SKILL.md"), "utf8");
      const frontmatter = { metadata: { tools: /\n {2}tools: "([^"]+)"/.exec(text)?.[1] } };
      const tools = toolsOf(frontmatter);
      for (const tool of tools) expect(TOOL_NAMES, folder).toContain(tool);
      // A job tool comes with any long tool, so a skill may name it for a long call's handle.
      const named = [...text.matchAll(/`([a-z]+(?:_[a-z]+)+)`/g)].map(([, name]) => name);
      for (const name of named.filter((n) =>
        (TOOL_NAMES as readonly string[]).includes(n as string),
      )) {
        expect([...tools, ...JOB_TOOLS], `${folder} names ${name}`).toContain(name);
      }
    }
  });
});
