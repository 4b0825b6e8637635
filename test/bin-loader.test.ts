import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { assertBuilt, BIN, openRawSession } from "./spawn-bin.js";

const DIST = join(BIN, "..");
const hasNodeCompileCache = "enableCompileCache" in Module;

let dir: string;
beforeEach(() => {
  assertBuilt();
  // A copy of the bin and bundle, so these runs own their cache directory.
  dir = mkdtempSync(join(tmpdir(), "ocm-loader-"));
  for (const file of ["index.cjs", "main.cjs"]) copyFileSync(join(DIST, file), join(dir, file));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cacheDir = () => join(dir, ".cache");
const cacheFiles = (): string[] => {
  try {
    return readdirSync(cacheDir()).filter((f) => f.endsWith(".v8"));
  } catch {
    return [];
  }
};

/** Starts the copied bin, waits for its tools/list answer, keeps it up `untilDone`, then ends it. */
async function runBin(
  untilDone: () => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const session = await openRawSession(process.execPath, [join(dir, "index.cjs")], {
    PATH: process.env.PATH ?? "",
    ...env,
  });
  const listed = (await session.request("tools/list")) as { result: { tools: { name: string }[] } };
  expect(listed.result.tools.map((tool) => tool.name)).toContain("cloud_chat");
  await untilDone();
  await session.close();
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 20_000) throw new Error("gave up waiting after 20 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.skipIf(hasNodeCompileCache)(
  "the bin's code cache (Nodes without a compile cache)",
  { timeout: 90_000 },
  () => {
    it("writes a V8 code cache beside the bundle, then starts from it without rewriting it", async () => {
      await runBin(() => waitFor(() => cacheFiles().length === 1));
      const [file] = cacheFiles();
      expect(file).toMatch(
        new RegExp(`^main-[0-9a-f]{16}-\\d+-\\d+-${process.version}-${process.arch}\\.v8$`),
      );
      const written = statSync(join(cacheDir(), file as string)).mtimeMs;

      // An accepted cache is left alone; a rejected one would be rewritten a second after start.
      await runBin(() => pause(1500));
      expect(cacheFiles()).toEqual([file]);
      expect(statSync(join(cacheDir(), file as string)).mtimeMs).toBe(written);
    });

    it("starts normally from a corrupt cache and replaces it", async () => {
      await runBin(() => waitFor(() => cacheFiles().length === 1));
      const path = join(cacheDir(), cacheFiles()[0] as string);
      writeFileSync(path, "not a code cache");
      await runBin(() => waitFor(() => readFileSync(path, "utf8") !== "not a code cache"));
      expect(statSync(path).size).toBeGreaterThan(1000);
    });

    it("keys the cache to the bundle, so an edited one never runs stale code", async () => {
      await runBin(() => waitFor(() => cacheFiles().length === 1));
      const before = cacheFiles()[0];
      writeFileSync(join(dir, "main.cjs"), `${readFileSync(join(dir, "main.cjs"), "utf8")}\n`);
      await runBin(() => waitFor(() => cacheFiles().length === 2));
      expect(cacheFiles()).toContain(before);
    });

    it("writes nothing when NODE_DISABLE_COMPILE_CACHE is set", async () => {
      await runBin(() => pause(1500), { NODE_DISABLE_COMPILE_CACHE: "1" });
      expect(cacheFiles()).toEqual([]);
    });
  },
);
