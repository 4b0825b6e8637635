import type { Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { isAbortError } from "../src/upstream/errors.js";
import { createHttpTransport, type Exchange } from "../src/upstream/http-transport.js";
import { type LoopbackServer, listenOnLoopback } from "./loopback-server.js";

let server: LoopbackServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function readAll(exchange: Exchange): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const chunk of exchange.body) parts.push(chunk);
  return Buffer.concat(parts).toString("utf8");
}

const get = (signal = new AbortController().signal) => ({
  method: "GET",
  headers: { accept: "application/json" },
  signal,
});

describe("the HTTP transport", () => {
  it("keeps one connection alive across sequential requests", async () => {
    const sockets = new Set<Socket>();
    server = await listenOnLoopback(async (req, res) => {
      sockets.add(req.socket);
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    const send = createHttpTransport();
    for (let i = 0; i < 3; i++)
      expect(await readAll(await send(`${server.url}/x`, get()))).toBe('{"ok":true}');
    expect(sockets.size).toBe(1);
  });

  it("sends the body with its length, and the headers it was given", async () => {
    let seen: { headers: Record<string, unknown>; body: string } | undefined;
    server = await listenOnLoopback(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      seen = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      res.end();
    });
    const body = JSON.stringify({ query: "naïve" });
    await readAll(
      await createHttpTransport()(`${server.url}/api/web_search`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer k" },
        body,
        signal: new AbortController().signal,
      }),
    );
    expect(seen?.body).toBe(body);
    expect(seen?.headers).toMatchObject({
      "content-length": String(Buffer.byteLength(body)),
      authorization: "Bearer k",
    });
  });

  it("decodes a compressed answer it did not ask for", async () => {
    server = await listenOnLoopback(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
      res.end(gzipSync('{"results":[]}'));
    });
    const exchange = await createHttpTransport()(`${server.url}/x`, get());
    expect(exchange.header("Content-Encoding")).toBe("gzip");
    expect(await readAll(exchange)).toBe('{"results":[]}');
  });

  it("hands back a redirect as it is, without following it", async () => {
    let requests = 0;
    server = await listenOnLoopback(async (_req, res) => {
      requests++;
      res.writeHead(307, { location: "http://127.0.0.1:9/elsewhere" });
      res.end();
    });
    const exchange = await createHttpTransport()(`${server.url}/x`, get());
    expect(exchange.status).toBe(307);
    expect(exchange.header("location")).toBe("http://127.0.0.1:9/elsewhere");
    exchange.discard();
    expect(requests).toBe(1);
  });

  it("fails a body mid-way with an AbortError when cancelled, whatever the reason given", async () => {
    server = await listenOnLoopback(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      res.write('{"a":1}\n');
    });
    const controller = new AbortController();
    const exchange = await createHttpTransport()(`${server.url}/x`, get(controller.signal));
    const chunks = exchange.body[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    controller.abort("the client went away");
    const failure = await chunks.next().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isAbortError(failure)).toBe(true);
  });

  it.skipIf(Number(process.versions.node.split(".")[0]) < 24)(
    "goes through the environment's proxy when Node is told to use it",
    async () => {
      let seenUrl: string | undefined;
      server = await listenOnLoopback(async (req, res) => {
        seenUrl = req.url;
        res.end('{"models":[]}');
      });
      const saved = { ...process.env };
      Object.assign(process.env, { NODE_USE_ENV_PROXY: "1", HTTP_PROXY: server.url });
      for (const name of ["NO_PROXY", "no_proxy", "http_proxy"]) delete process.env[name];
      try {
        const exchange = await createHttpTransport()("http://upstream.invalid/api/tags", get());
        expect(await readAll(exchange)).toBe('{"models":[]}');
        expect(seenUrl).toBe("http://upstream.invalid/api/tags");
      } finally {
        for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
        Object.assign(process.env, saved);
      }
    },
  );

  it("fails with the connection's error code when nothing listens", async () => {
    server = await listenOnLoopback(async () => {});
    const url = server.url;
    await server.close();
    server = undefined;
    await expect(createHttpTransport()(`${url}/x`, get())).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });
});
