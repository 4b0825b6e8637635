import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loopbackCertificate } from "./nginx-server.js";
import { CALLBACK } from "./oauth-client.js";

/**
 * Client metadata documents over https on loopback, with a certificate made for the test: good
 * ones, and each way one can be wrong. Notes the paths it was asked for.
 */
export class DocumentServer {
  readonly requests: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly ca: string,
    private readonly dir: string,
  ) {}

  static async start(): Promise<DocumentServer> {
    const dir = mkdtempSync(join(tmpdir(), "ocm-cimd-"));
    const { certificate, key, ca } = loopbackCertificate(dir);
    let self: DocumentServer | undefined;
    const server = createServer(
      { cert: readFileSync(certificate), key: readFileSync(key) },
      (req, res) => self?.answer(req.url ?? "/", res),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new DocumentServer(server, ca, dir);
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `https://127.0.0.1:${this.port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private answer(path: string, res: import("node:http").ServerResponse): void {
    this.requests.push(path);
    const document = (extra: Record<string, unknown> = {}) => ({
      client_id: this.url(path),
      client_name: "Test Client",
      redirect_uris: [CALLBACK],
      token_endpoint_auth_method: "none",
      ...extra,
    });
    const json = (body: unknown) => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=600" });
      res.end(JSON.stringify(body));
    };
    switch (path) {
      case "/client.json":
        json(document());
        return;
      case "/bidi.json":
        // U+202E turns the rest of its paragraph around: "Evil App moc.elgoog" would read
        // "Evil App google.com".
        json(document({ client_name: "Evil App \u202emoc.elgoog\u0007" }));
        return;
      case "/other-id.json":
        json(document({ client_id: this.url("/client.json") }));
        return;
      case "/evil-redirect.json":
        json(document({ redirect_uris: ["https://evil.example/callback"] }));
        return;
      case "/big.json":
        json(document({ padding: "x".repeat(6_000) }));
        return;
      case "/redirect.json":
        res.writeHead(302, { location: this.url("/client.json") });
        return void res.end();
      default:
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not found");
    }
  }
}
