import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "../src");

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith(".ts")
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

describe("the structure of src/", () => {
  it("takes time only from the Clock: no Date.now, setTimeout or setInterval outside clock.ts", () => {
    expect(linesMatching(/\b(Date\.now|setTimeout|setInterval)\b/, "clock.ts")).toEqual([]);
  });

  it("races work against the clock in one place, withDeadline, and nowhere by hand", () => {
    expect(linesMatching(/clock\.schedule\([^)]*resolve\)/, "clock.ts")).toEqual([]);
  });
});
