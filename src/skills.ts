import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Skill,
  type SkillSource,
  SkillsExtension,
  type SkillWarning,
  skillEntry,
} from "@modelcontextprotocol/server/ext/skills";

/** One skill as shipped: its folder, its SKILL.md, and the tools it teaches. */
export interface ShippedSkill {
  folder: string;
  text: string;
  /** From the frontmatter's `metadata.tools` line: `  tools: "web_search web_fetch"`. */
  tools: string[];
}

/** Each skill folder's SKILL.md, read as it is (a few kilobytes, at start). */
export function shippedSkills(dir: string): ShippedSkill[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map(({ name }) => {
      const text = readFileSync(join(dir, name, "SKILL.md"), "utf8");
      const tools = /^ {2}tools: "([^"\n]*)"$/m.exec(text.split("\n---", 1)[0] ?? "")?.[1] ?? "";
      return { folder: name, text, tools: tools.split(/\s+/).filter(Boolean) };
    })
    .sort((a, b) => a.folder.localeCompare(b.folder));
}

/**
 * The skills extension (SEP-2640) for a server offering `offered`: the skills whose tools it all
 * offers, so `--tools` filters them too; undefined when none is left. Their entries (digests,
 * checks) are made on the first request that needs them.
 */
export function skillsFor(
  offered: readonly string[],
  options: {
    cacheHint: { ttlMs: number; cacheScope: "public" | "private" };
    onWarning(warning: SkillWarning): void;
    dir: string;
  },
): SkillsExtension | undefined {
  const served = shippedSkills(options.dir).filter((skill) =>
    skill.tools.every((tool) => offered.includes(tool)),
  );
  if (served.length === 0) return undefined;
  return new SkillsExtension({
    source: lazySource(served),
    strict: true,
    cacheHint: options.cacheHint,
    onWarning: options.onWarning,
  });
}

/** The skills' entries, as skills/list gives them. */
export function skillEntries(skills: readonly ShippedSkill[]): Promise<Skill[]> {
  return Promise.all(skills.map((skill) => skillEntry(skill.folder, { "SKILL.md": skill.text })));
}

/** One file per skill (its SKILL.md), each skill's folder a directory of that one file. */
function lazySource(skills: readonly ShippedSkill[]): SkillSource {
  let entries: Promise<Skill[]> | undefined;
  const all = () => {
    entries ??= skillEntries(skills);
    return entries;
  };
  const named = (uri: string, pattern: RegExp) =>
    skills.find((skill) => skill.folder === pattern.exec(uri)?.[1]);
  const manifest = (skill: ShippedSkill) => ({
    uri: `skill://${skill.folder}/SKILL.md`,
    mimeType: "text/markdown",
    size: Buffer.byteLength(skill.text),
  });
  return {
    list: async () => ({ skills: await all() }),
    get: async (uri) => (await all()).find((skill) => skill.uri === uri),
    async read(uri) {
      const skill = named(uri, /^skill:\/\/([^/]+)\/SKILL\.md$/);
      return skill && { text: skill.text, mimeType: "text/markdown" };
    },
    async readDirectory(uri) {
      const skill = named(uri, /^skill:\/\/([^/]+)\/?$/);
      return skill && { resources: [{ name: "SKILL.md", ...manifest(skill) }] };
    },
    async listResources() {
      return (await all()).map((entry, i) => ({
        name: entry.frontmatter.name,
        description: entry.frontmatter.description,
        ...manifest(skills[i] as ShippedSkill),
      }));
    },
  };
}
