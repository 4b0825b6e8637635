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

describe("the structure of src/", () => {
  it("takes time only from the Clock: no Date.now, setTimeout or setInterval outside clock.ts", () => {
    const offenders = sources()
      .filter((file) => relative(SRC, file) !== "clock.ts")
      .flatMap((file) =>
        readFileSync(file, "utf8")
          .split("\n")
          .map((line, i) => ({ line, at: `${relative(SRC, file)}:${i + 1}` }))
          .filter(({ line }) => /\b(Date\.now|setTimeout|setInterval)\b/.test(line))
          .map(({ at }) => at),
      );
    expect(offenders).toEqual([]);
  });
});
