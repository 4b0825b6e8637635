import { request } from "node:http";
import { connect as connectSocket, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { until } from "../harness.js";
import { type HttpBin, INITIALIZE_REQUEST as INIT } from "../spawn-bin.js";
import { MCP_HEADERS, useHttpBins } from "./http-harness.js";

const TOKEN = "http-token-c0ffee-0123456789";
const t = useHttpBins();
const { start } = t;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A POST from a chosen loopback address (127.0.0.2 is another client to the server). */
function post(
  bin: HttpBin,
  body: unknown,
  options: { headers?: Record<string, string>; from?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      bin.url,
      {
        method: "POST",
        headers: { ...MCP_HEADERS, ...options.headers },
        ...(options.from && { localAddress: options.from }),
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on("error", reject);
    req.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}

async function openSession(bin: HttpBin, from?: string, initialized = true): Promise<string> {
  const answer = await post(bin, INIT, { ...(from && { from }) });
  expect(answer.status).toBe(200);
  const id = answer.headers["mcp-session-id"] as string;
  if (initialized) {
    const note = await post(
      bin,
      { jsonrpc: "2.0", method: "notifications/initialized" },
      {
        headers: { "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" },
        ...(from && { from }),
      },
    );
    expect(note.status).toBe(202);
  }
  return id;
}

/** A raw connection, to send what no well-behaved client would. */
function rawConnection(
  bin: HttpBin,
): Promise<{ socket: Socket; received(): string; closed: Promise<void> }> {
  const { hostname, port } = new URL(bin.url);
  return new Promise((resolve, reject) => {
    const socket = connectSocket(Number(port), hostname, () => {
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      const closed = new Promise<void>((done) => socket.once("close", () => done()));
      resolve({ socket, received: () => text, closed });
    });
    socket.on("error", () => {});
    socket.once("error", reject);
  });
}

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms),
    ),
  ]);

describe("HTTP against hostile and careless clients", () => {
  it("answers an invalid request with Invalid Request and its id, not a parse error", async () => {
    const bin = await start(["--stateless"]);
    const single = await post(bin, { jsonrpc: "2.0", id: 5, method: "tools/list", params: "x" });
    expect(single.status).toBe(400);
    expect(JSON.parse(single.body)).toEqual({
      jsonrpc: "2.0",
      id: 5,
      error: { code: -32600, message: "Invalid Request: params must be an object" },
    });
    const batch = await post(bin, [
      { jsonrpc: "2.0", id: 6, method: "tools/list" },
      { jsonrpc: "2.0", id: "seven", method: 7 },
    ]);
    expect(batch.status).toBe(400);
    expect(JSON.parse(batch.body)).toEqual([
      {
        jsonrpc: "2.0",
        id: "seven",
        error: { code: -32600, message: "Invalid Request: method must be a string" },
      },
    ]);
  });

  it("gives a body that drips in a deadline, and closes the connection", async () => {
    const bin = await start(["--body-timeout-ms", "500"]);
    const { socket, received, closed } = await rawConnection(bin);
    socket.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{`,
    );
    const drip = setInterval(() => socket.write(" "), 100);
    try {
      await within(closed, 5_000, "closing a dripping connection");
    } finally {
      clearInterval(drip);
    }
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(received()).toMatch(/not received within 500 ms/);
  });

  it("closes the connection of a refused request instead of waiting for its body", async () => {
    const bin = await start([], { MCP_HTTP_TOKEN: TOKEN });
    const { socket, received, closed } = await rawConnection(bin);
    socket.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
    );
    const drip = setInterval(() => socket.write(" "), 100);
    try {
      await within(closed, 5_000, "closing a refused connection");
    } finally {
      clearInterval(drip);
    }
    expect(received()).toMatch(/^HTTP\/1\.1 401 /);
  });

  it("caps open connections per address and in all, with a 503 that says why", async () => {
    const bin = await start(["--max-connections-per-address", "2", "--max-connections", "3"]);
    const held = [await rawConnection(bin), await rawConnection(bin)];
    const third = await rawConnection(bin);
    await within(third.closed, 5_000, "refusing a third connection");
    expect(third.received()).toMatch(
      /^HTTP\/1\.1 503 [\s\S]*too many open connections from your address/i,
    );
    // Another address is still served, until the total cap.
    expect((await post(bin, INIT, { from: "127.0.0.2" })).status).toBe(200);
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    // The server (another process) frees the slots when it sees the closes, a moment later.
    let status = 0;
    await until(async () => {
      status = (await post(bin, INIT)).status;
      return status !== 503;
    }, 5_000);
    expect(status).toBe(200);
  });

  it("binds a session to who created it: another client gets 404 for it, even for DELETE", async () => {
    const bin = await start();
    const id = await openSession(bin, "127.0.0.1");
    const headers = { "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" };
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
    expect((await post(bin, list, { headers, from: "127.0.0.3" })).status).toBe(404);
    const deleted = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(
        bin.url,
        { method: "DELETE", headers, localAddress: "127.0.0.3" },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(deleted).toBe(404);
    expect((await post(bin, list, { headers, from: "127.0.0.1" })).status).toBe(200);
  });

  it("caps sessions per client, so one client cannot take the server's cap", async () => {
    const bin = await start(["--max-sessions-per-client", "2"]);
    await openSession(bin, "127.0.0.1");
    await openSession(bin, "127.0.0.1");
    const third = await post(bin, INIT, { from: "127.0.0.1" });
    expect(third.status).toBe(503);
    expect(third.body).toMatch(/Too many sessions for this client \(the limit is 2/);
    expect((await post(bin, INIT, { from: "127.0.0.4" })).status).toBe(200);
  });

  it.each([[[]], [["--stateless"]]])(
    "past the grace period answers a call still running with a shutting-down error (%j)",
    async (args) => {
      const bin = await start([...args, "--shutdown-grace-ms", "300"]);
      t.fake.inject("chat", { hang: true });
      const headers: Record<string, string> = {};
      if (args.length === 0) {
        headers["mcp-session-id"] = await openSession(bin);
        headers["mcp-protocol-version"] = "2025-06-18";
      }
      const call = post(
        bin,
        {
          jsonrpc: "2.0",
          id: 9,
          method: "tools/call",
          params: { name: "cloud_chat", arguments: { prompt: "x" } },
        },
        { headers },
      );
      await until(() => t.fake.requestsTo("/api/chat").length > 0);
      bin.child.kill("SIGTERM");
      const answer = await call;
      const message = answer.body.includes("data:")
        ? JSON.parse(/data: (.*)/.exec(answer.body)?.[1] ?? "{}")
        : JSON.parse(answer.body);
      expect(message).toMatchObject({
        id: 9,
        error: { code: -32000, message: expect.stringMatching(/shutting down/) },
      });
      expect(await bin.exited).toBe(0);
      await t.fake.requestsTo("/api/chat")[0]?.closed;
    },
  );
});
