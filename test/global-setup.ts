import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Collects every request the fake local Ollamas receive across the whole run, and fails the run
 * if any carried an Authorization header: the key must never reach a local server.
 */
export default function setup() {
  const dir = mkdtempSync(join(tmpdir(), "ocm-local-fake-"));
  const log = join(dir, "requests.jsonl");
  writeFileSync(log, "");
  process.env.LOCAL_FAKE_LOG = log;
  return () => {
    const lines = readFileSync(log, "utf8").split("\n").filter(Boolean);
    rmSync(dir, { recursive: true, force: true });
    const leaks = lines.map((line) => JSON.parse(line)).filter((entry) => entry.authorization);
    if (leaks.length > 0) {
      // A throw here is only printed by vitest; the exit code is what makes the run fail.
      process.exitCode = 1;
      throw new Error(
        `${leaks.length} of ${lines.length} requests to a local Ollama carried an Authorization header: ${JSON.stringify(leaks.slice(0, 3))}`,
      );
    }
  };
}
