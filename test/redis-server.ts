import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { freePort } from "./loopback-server.js";

/** A real redis-server on a free loopback port, in a temporary directory, with no persistence. */
export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "ocm-redis-"));

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  static available(): boolean {
    return spawnSync("redis-server", ["--version"]).status === 0;
  }

  static async start(extraArgs: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extraArgs);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again, on the same port); resolves once it accepts commands. */
  async restart(): Promise<void> {
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
        ...this.extraArgs,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (/Ready to accept connections/.test(out)) resolve();
      });
      child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
      // Not installed: one line that says what is missing and how to get it.
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          new Error(
            error.code === "ENOENT"
              ? "redis-server is not installed: apt-get install redis-server (.ci/run installs it)"
              : `redis-server could not start: ${error.message}`,
          ),
        ),
      );
    });
  }

  /** Every key and what it holds (a string's value, or a sorted set's members), to inspect. */
  async contents(): Promise<Record<string, string | string[]>> {
    const client = createClient({ url: this.url });
    await client.connect();
    try {
      const found: Record<string, string | string[]> = {};
      for (const key of await client.keys("*")) {
        found[key] =
          (await client.type(key)) === "zset"
            ? await client.zRange(key, 0, -1)
            : ((await client.get(key)) ?? "");
      }
      return found;
    } finally {
      await client.close();
    }
  }

  /** When `key` expires, by this machine's clock (Redis keeps expiry times across a restart). */
  async expiresAt(key: string): Promise<number | undefined> {
    const client = createClient({ url: this.url });
    await client.connect();
    try {
      const left = await client.pTTL(key);
      return left > 0 ? Date.now() + left : undefined;
    } finally {
      await client.close();
    }
  }

  /** Freezes it (SIGSTOP): connections stay open and nothing is answered, as a hung Redis does. */
  freeze(): void {
    this.child?.kill("SIGSTOP");
  }

  thaw(): void {
    this.child?.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
