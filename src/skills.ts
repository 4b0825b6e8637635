import { fileURLToPath } from "node:url";
import {
  type Skill,
  type SkillCatalog,
  type SkillFiles,
  SkillsExtension,
  type SkillWarning,
} from "@modelcontextprotocol/server/ext/skills";
import { nodeSkillFiles } from "@modelcontextprotocol/server/ext/skills/node";

/**
 * skills/ at the package's root, beside src/ and dist/ (the bundle's main.mjs holds this module;
 * the package and the MCP Bundle ship the folder beside it).
 */
export const SKILLS_DIR = fileURLToPath(new URL("../skills/", import.meta.url));

/** The tools a skill teaches, from its frontmatter's `metadata.tools`. */
export function toolsOf(skill: Skill): string[] {
  const tools = (skill.frontmatter.metadata as Record<string, string> | undefined)?.tools;
  return (tools ?? "").split(/\s+/).filter(Boolean);
}

/**
 * The skills extension (SEP-2640) for a server offering `offered`: the skills whose tools it all
 * offers, so `--tools` filters them too. Undefined when none is left. A skill that breaks the
 * extension's rules fails here (strict), not in a client.
 */
export async function skillsFor(
  offered: readonly string[],
  options: {
    cacheHint: { ttlMs: number; cacheScope: "public" | "private" };
    onWarning(warning: SkillWarning): void;
    dir?: string;
  },
): Promise<SkillCatalog | undefined> {
  const files = nodeSkillFiles(options.dir ?? SKILLS_DIR);
  const all = await SkillsExtension.load(files, { strict: true, onWarning: options.onWarning });
  const served = all.entries
    .filter((skill) => toolsOf(skill).every((tool) => offered.includes(tool)))
    .map((skill) => skill.frontmatter.name);
  if (served.length === 0) return undefined;
  return SkillsExtension.load(only(files, served), {
    strict: true,
    cacheHint: options.cacheHint,
    onWarning: options.onWarning,
  });
}

/** The skill folders named, and no other. */
function only(files: SkillFiles, folders: readonly string[]): SkillFiles {
  return {
    list: async (dir) => {
      const entries = await files.list(dir);
      return dir === "" ? entries.filter((entry) => folders.includes(entry.name)) : entries;
    },
    read: (path) => files.read(path),
  };
}
