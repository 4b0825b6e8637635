import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../src/config.js";
import { TOOL_NAMES } from "../src/tool-names.js";
import { TOOLS } from "../src/tools/all.js";

const SRC = join(import.meta.dirname, "../src");

function sources(dir = SRC, ending = ".ts"): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name), ending)
      : entry.name.endsWith(ending)
        ? [join(dir, entry.name)]
        : [],
  );
}

/** file:line of each line in src/ (but `except`) that matches `pattern`. */
function linesMatching(pattern: RegExp, except: string): string[] {
  return sources()
    .filter((file) => relative(SRC, file) !== except)
    .flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${relative(SRC, file)}:${i + 1}` }))
        .filter(({ line }) => pattern.test(line))
        .map(({ at }) => at),
    );
}

/** The modules of src/ that `file` imports, directly or through others (type imports too). */
function importedBy(file: string, seen = new Set<string>()): Set<string> {
  const source = readFileSync(join(SRC, file), "utf8");
  // Every relative module it names: static, side-effect and dynamic imports, and re-exports.
  for (const [, target] of source.matchAll(/["'](\.{1,2}\/[^"']+)\.js["']/g)) {
    const module = relative(SRC, join(SRC, dirname(file), `${target}.ts`));
    if (seen.has(module)) continue;
    seen.add(module);
    importedBy(module, seen);
  }
  return seen;
}

/** Each function of src/ longer than `most` lines, as "file:line name (lines)". */
function functionsLongerThan(most: number): string[] {
  const long: string[] = [];
  for (const file of sources()) {
    const tree = ts.createSourceFile(
      file,
      readFileSync(file, "utf8"),
      ts.ScriptTarget.Latest,
      true,
    );
    const lineOf = (position: number) => tree.getLineAndCharacterOfPosition(position).line + 1;
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && "body" in node && node.body) {
        const lines = lineOf(node.end) - lineOf(node.getStart()) + 1;
        const name = node.name?.getText() ?? node.parent.getChildAt(0).getText();
        if (lines > most)
          long.push(`${relative(SRC, file)}:${lineOf(node.getStart())} ${name} (${lines})`);
      }
      ts.forEachChild(node, visit);
    };
    visit(tree);
  }
  return long;
}

describe("the structure of src/", () => {
  it("reads the settings without loading a tool, upstream, transport, HTTP, sign-in or jobs module", () => {
    for (const entry of ["config.ts", "cli.ts"]) {
      const loaded = [...importedBy(entry)];
      const forbidden =
        entry === "config.ts"
          ? /^(tools|upstream|transports|http|oauth|jobs)\//
          : /^(tools|upstream|transports|jobs)\//;
      expect(
        loaded.filter((module) => forbidden.test(module)),
        entry,
      ).toEqual([]);
    }
  });

  it("has no function over 80 lines", () => {
    expect(functionsLongerThan(80)).toEqual([]);
  });

  it("takes time only from the Clock: no Date.now, setTimeout or setInterval outside clock.ts", () => {
    expect(linesMatching(/\b(Date\.now|setTimeout|setInterval)\b/, "clock.ts")).toEqual([]);
  });

  it("tracks calls in flight in one place for both transports, CallsInFlight", () => {
    expect(linesMatching(/idleWaiters/, "calls-in-flight.ts")).toEqual([]);
    for (const file of ["transports/stdio.ts", "http/sessions.ts"]) {
      expect(readFileSync(join(SRC, file), "utf8"), file).toContain("new CallsInFlight<");
    }
  });

  it("races work against the clock in one place, withDeadline, and nowhere by hand", () => {
    expect(linesMatching(/idleWaiters/, "calls-in-flight.ts")).toEqual([]);
  });
});

describe("docs/structure.md", () => {
  it("gives every file of src/ a line, and lists none that is gone", () => {
    const map = readFileSync(join(import.meta.dirname, "../docs/structure.md"), "utf8");
    const named = new Set<string>();
    let folder = "";
    for (const line of map.split("\n")) {
      const heading = /^#+ (src\/[\w/]*)/.exec(line);
      if (heading?.[1]) folder = heading[1].replace(/^src\/?/, "");
      if (!line.startsWith("- ")) continue;
      for (const [, name] of line
        .slice(0, line.indexOf(":") + 1 || undefined)
        .matchAll(/`([\w./-]+\.(?:ts|json))`/g)) {
        named.add(name?.includes("/") ? (name as string) : join(folder, name as string));
      }
    }
    const files = [...sources(SRC, ".ts"), ...sources(SRC, ".json")].map((f) => relative(SRC, f));
    expect(files.filter((file) => !named.has(file))).toEqual([]);
    expect([...named].filter((file) => !files.includes(file))).toEqual([]);
  });
});

describe("the lists of tools written by hand", () => {
  it("name the tools in tool-names.ts as their definitions do, in the same order", () => {
    expect(TOOLS.map((tool) => tool.name)).toEqual(TOOL_NAMES);
  });

  it("name every tool, in package.json's and server.json's descriptions", () => {
    for (const file of ["../package.json", "../server.json"]) {
      const { description } = JSON.parse(readFileSync(join(import.meta.dirname, file), "utf8")) as {
        description: string;
      };
      for (const tool of TOOLS) expect(description, file).toContain(tool.name);
    }
  });

  it("name the long tools, and only them, where the defer setting says which calls defer", () => {
    const help = SETTINGS.deferAfterMs.help;
    const which = help.slice(0, help.indexOf(" call still working"));
    for (const tool of TOOLS) {
      expect(which.includes(tool.name), tool.name).toBe(Boolean(tool.long));
    }
  });
});
