import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./http-load-run.ts", import.meta.url));
const SESSIONS = 100;

describe("HTTP under load", () => {
  it(`serves ${SESSIONS} concurrent sessions calling tools, then holds none and frees them`, {
    timeout: 120_000,
  }, async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", SCRIPT, String(SESSIONS)], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      timeout: 120_000,
    });
    const report = JSON.parse(stdout.trim().split("\n").at(-1) as string);
    // The whole report goes with a failure, and nothing into a passing run's output.
    expect(report.failures, JSON.stringify(report)).toEqual([]);
    expect(report.created).toBe(SESSIONS);
    expect(report.sessionsAfter).toBe(0);
    // Every per-session server became garbage once its session ended.
    expect(report.aliveAfter).toBe(0);
    expect(report.heapAfterMiB - report.heapBeforeMiB).toBeLessThan(16);
  });
});
