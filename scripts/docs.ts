// The parts of the docs that are written from the code: the settings tables (from SETTINGS, the
// same source as --help), the tools table and the README's tool list (from the tool
// definitions, with what each weighs in tools/list), and the skills table (from skills/). `npm run docs` rewrites them between their
// markers; test/docs.test.ts fails when the committed docs differ from what this generates.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Client, InMemoryTransport } from "@modelcontextprotocol/client";
import { compose, SKILLS_DIR } from "../src/compose.js";
import { HTTP_SETTINGS, resolveConfig, SETTINGS, type Setting } from "../src/config.js";
import { shippedSkills, skillEntries } from "../src/skills.js";
import { TOOLS } from "../src/tools/all.js";

const ROOT = new URL("../", import.meta.url);

/** Each generated block: the file it is in, its marker name, and how to write it. */
const BLOCKS: { file: string; name: string; render: () => Promise<string> }[] = [
  { file: "docs/configuration.md", name: "settings", render: async () => settingsTable(SETTINGS) },
  {
    file: "docs/configuration.md",
    name: "http-settings",
    render: async () => settingsTable(HTTP_SETTINGS),
  },
  { file: "docs/tools.md", name: "tools", render: toolsTable },
  { file: "docs/tools.md", name: "skills", render: skillsTable },
  { file: "README.md", name: "tool-list", render: async () => toolList() },
];

function settingsTable(settings: Record<string, Setting>): string {
  const rows = Object.values(settings).map((s) => {
    const flag = s.flag ? `\`--${s.flag}\`` : "none";
    const fallback = s.default === undefined ? "(not set)" : `\`${s.default}\``;
    return `| \`${s.env}\` | ${flag} | ${fallback} | ${cell(s.help)} |`;
  });
  return ["| variable | flag | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

/**
 * Name, title, hints, whether it may hand back a job_id, the settings its code reads (all it is
 * handed of them), and its weight in tools/list.
 */
async function toolsTable(): Promise<string> {
  const listed = await listedTools();
  const yes = (value: boolean | undefined) => (value ? "yes" : "no");
  const rows = TOOLS.map((tool) => {
    const a = tool.annotations;
    const bytes = Buffer.byteLength(JSON.stringify(listed.find((t) => t.name === tool.name)));
    const reads = tool.settings.map((name) => `\`${SETTINGS[name].env}\``).join(", ") || "none";
    return `| \`${tool.name}\` | ${cell(tool.title)} | ${yes(a.readOnlyHint)} | ${yes(a.destructiveHint)} | ${yes(a.idempotentHint)} | ${yes(a.openWorldHint)} | ${yes(tool.long)} | ${reads} | ${bytes} |`;
  });
  const total = listed.reduce((n, tool) => n + Buffer.byteLength(JSON.stringify(tool)), 0);
  return [
    "| tool | title | read-only | destructive | idempotent | open world | may return a `job_id` | settings its code reads | bytes in `tools/list` |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    `| all ${TOOLS.length} | | | | | | | | ${total} |`,
  ].join("\n");
}

/** Each skill shipped: its name, the tools it teaches, what it is for, its size. */
async function skillsTable(): Promise<string> {
  const skills = shippedSkills(SKILLS_DIR);
  const entries = await skillEntries(skills);
  const rows = entries.map((entry, i) => {
    const bytes = (entry.resources as { size: number }[]).reduce((sum, r) => sum + r.size, 0);
    const tools = (skills[i]?.tools ?? []).map((tool) => `\`${tool}\``).join(", ");
    return `| \`${entry.frontmatter.name}\` | ${tools} | ${cell(entry.frontmatter.description)} | ${bytes} |`;
  });
  return ["| skill | teaches | for | bytes |", "|---|---|---|---|", ...rows].join("\n");
}

function toolList(): string {
  return TOOLS.map((tool) => `- \`${tool.name}\`: ${tool.summary}`).join("\n");
}

/** tools/list as a client gets it from a server with every default setting. */
async function listedTools(): Promise<{ name: string }[]> {
  const services = await compose({
    config: resolveConfig({}, {}),
    transport: "stdio",
    log: { log: () => {} },
  });
  const server = services.newServer();
  const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "docs", version: "1" });
  await client.connect(clientSide);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
    await server.close();
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** Every file with generated blocks, as it is committed and as it should be. */
export async function generatedDocs(): Promise<{ file: string; now: string; wanted: string }[]> {
  const files = new Map<string, { now: string; wanted: string }>();
  for (const block of BLOCKS) {
    let entry = files.get(block.file);
    if (!entry) {
      const now = await readFile(new URL(block.file, ROOT), "utf8");
      entry = { now, wanted: now };
      files.set(block.file, entry);
    }
    const start = `<!-- generated:${block.name} (npm run docs) -->`;
    const end = `<!-- /generated:${block.name} -->`;
    const from = entry.wanted.indexOf(start);
    const to = entry.wanted.indexOf(end);
    if (from < 0 || to < from) throw new Error(`${block.file} has no ${start} ... ${end} block`);
    entry.wanted = `${entry.wanted.slice(0, from + start.length)}\n${await block.render()}\n${entry.wanted.slice(to)}`;
  }
  return [...files].map(([file, { now, wanted }]) => ({ file, now, wanted }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const { file, now, wanted } of await generatedDocs()) {
    if (now === wanted) continue;
    await writeFile(new URL(file, ROOT), wanted);
    process.stdout.write(`updated ${file}\n`);
  }
}
