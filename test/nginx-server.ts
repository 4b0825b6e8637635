import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "./harness.js";

export const SHIPPED_CONFIG = fileURLToPath(new URL("../deploy/nginx.conf", import.meta.url));

export interface NginxSite {
  /** host:port of each instance behind it. */
  upstreams: string[];
  /** The loopback port it listens on, with TLS. */
  port: number;
  certificate: string;
  key: string;
}

/**
 * deploy/nginx.conf with its CHANGE lines set for a site: its instances, its address, its
 * certificate. Everything else is used as shipped; a CHANGE line this does not know fails.
 */
export function configFor(site: NginxSite): string {
  const lines = readFileSync(SHIPPED_CONFIG, "utf8").split("\n");
  const out: string[] = [];
  let upstreamsWritten = false;
  for (const line of lines) {
    if (!line.includes("# CHANGE")) {
      out.push(line);
      continue;
    }
    const indent = /^\s*/.exec(line)?.[0] ?? "";
    const directive = line.trim().split(/\s+/)[0];
    if (directive === "server") {
      if (!upstreamsWritten) out.push(...site.upstreams.map((u) => `${indent}server ${u};`));
      upstreamsWritten = true;
    } else if (directive === "listen") {
      out.push(`${indent}listen 127.0.0.1:${site.port} ssl;`);
    } else if (directive === "server_name") {
      out.push(`${indent}server_name 127.0.0.1;`);
    } else if (directive === "ssl_certificate") {
      out.push(`${indent}ssl_certificate ${site.certificate};`);
    } else if (directive === "ssl_certificate_key") {
      out.push(`${indent}ssl_certificate_key ${site.key};`);
    } else {
      throw new Error(`deploy/nginx.conf has a CHANGE line the test does not know: ${line}`);
    }
  }
  if (!upstreamsWritten) throw new Error("deploy/nginx.conf names no upstream servers");
  return out.join("\n");
}

/** A self-signed certificate for 127.0.0.1, made with openssl, and the CA clients must trust. */
export function loopbackCertificate(dir: string): { certificate: string; key: string; ca: string } {
  const certificate = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const made = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      certificate,
    ],
    { encoding: "utf8" },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return { certificate, key, ca: readFileSync(certificate, "utf8") };
}

/** A real nginx with a configuration of its own, in a temporary prefix, on a loopback port. */
export class NginxServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly prefix: string,
    readonly port: number,
    private readonly log: () => string,
  ) {}

  static available(): boolean {
    return (
      spawnSync("nginx", ["-v"]).status === 0 && spawnSync("openssl", ["version"]).status === 0
    );
  }

  static async start(config: string, port: number, prefix: string): Promise<NginxServer> {
    mkdirSync(join(prefix, "logs"), { recursive: true });
    const file = join(prefix, "nginx.conf");
    writeFileSync(file, config);
    const child = spawn(
      "nginx",
      [
        "-p",
        prefix,
        "-c",
        file,
        "-e",
        "stderr",
        "-g",
        `daemon off; pid ${join(prefix, "nginx.pid")};`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    const server = new NginxServer(child, prefix, port, () => err);
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`nginx exited with ${code}: ${err}`))),
    );
    await Promise.race([server.accepting(), exited]);
    return server;
  }

  stderr(): string {
    return this.log();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.prefix, { recursive: true, force: true });
  }

  private async accepting(): Promise<void> {
    const open = () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(this.port, "127.0.0.1");
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
    await until(open, 5_000, `nginx to listen on ${this.port}`);
  }
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `ocm-${name}-`));
}
