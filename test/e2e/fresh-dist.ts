import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The end-to-end tests run the built bin: a dist/ older than src/ would test code that is no
 * longer there. `npm test` builds first; a bare `npx vitest` after an edit is refused, saying so.
 */
export default function refuseStaleDist(): void {
  const built = join(ROOT, "dist", "main.mjs");
  if (!existsSync(built)) return; // the tests that need it say so themselves
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((entry) =>
        entry.isDirectory()
          ? newest(join(dir, entry.name))
          : statSync(join(dir, entry.name)).mtimeMs,
      ),
    );
  if (newest(join(ROOT, "src")) > statSync(built).mtimeMs) {
    throw new Error(
      "dist/ is older than src/: the end-to-end tests would run the old code. Run `npm run build` (npm test does), then the tests again.",
    );
  }
}
