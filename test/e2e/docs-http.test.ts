import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FAKE_API_KEY } from "../fake-ollama-cloud.js";
import { useFake } from "../harness.js";
import { assertBuilt, BIN, binEnv } from "../spawn-bin.js";

const DOC = readFileSync(new URL("../../docs/http.md", import.meta.url), "utf8");
/** The shell blocks, as a reader copies them (list items' indentation dropped). */
const BLOCKS = [...DOC.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
  (m[1] as string).replace(/^ {3}/gm, ""),
);

const t = useFake();

/**
 * Runs one block in bash, after what the reader's shell already holds, and resolves with the
 * server's stderr once it listens, or rejects with it when the server exits first.
 */
function runBlock(shell: string, block: string): Promise<string> {
  const script = `${shell}\n${block}`
    .replaceAll("node dist/index.cjs", '"$NODE" "$BIN"')
    .replaceAll("--port 3333", "--port 0")
    .replaceAll("your-key", FAKE_API_KEY);
  const child = spawn("bash", ["-c", script], {
    env: {
      ...binEnv(t.fake, { OLLAMA_API_KEY: undefined }),
      NODE: process.execPath,
      BIN,
    },
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      if (/Listening on /.test(err)) {
        process.kill(-(child.pid as number), "SIGTERM");
        resolve(err);
      }
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before listening:\n${err}`)));
  });
}

describe("docs/http.md, followed in one shell", () => {
  it("starts the server from each shell block in turn, with what earlier ones left set", async () => {
    assertBuilt();
    expect(BLOCKS.length).toBeGreaterThanOrEqual(4);
    // The reader has an Ollama key in the environment, as the README's start leaves many.
    let shell = `export OLLAMA_API_KEY=${FAKE_API_KEY}`;
    for (const block of BLOCKS) {
      const stderr = await runBlock(shell, block).catch((error: Error) => {
        throw new Error(
          `this block of docs/http.md does not start the server:\n${block}\n${error.message}`,
        );
      });
      expect(stderr).toMatch(/Listening on http/);
      // What stays set in the reader's shell for the next block.
      const kept = block.split("\n").filter((line) => /^(export|unset) /.test(line.trim()));
      shell = [shell, ...kept].join("\n");
    }
  }, 60_000);
});
