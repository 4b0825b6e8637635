import { describe, expect, it } from "vitest";
import { CLOUD, UpstreamHttpError } from "../src/upstream/errors.js";
import { createHttpTransport } from "../src/upstream/http-transport.js";
import {
  createUpstreamFetch,
  DEFAULT_RETRY_POLICY,
  linkSignals,
  parseRetryAfter,
  retarget,
  serviceMessageFrom,
} from "../src/upstream/upstream-fetch.js";
import { listenOnLoopback } from "./loopback-server.js";

describe("upstream fetch helpers", () => {
  it("re-targets every URL ollama-js builds onto the configured base", () => {
    expect(retarget("https://ollama.com/api/web_search", { baseUrl: "http://127.0.0.1:9" })).toBe(
      "http://127.0.0.1:9/api/web_search",
    );
    expect(
      retarget("https://ollama.com:443/api/chat", { baseUrl: "https://proxy.example/ollama" }),
    ).toBe("https://proxy.example/ollama/api/chat");
    expect(
      retarget("https://proxy.example:443/ollama/api/tags?x=1", {
        baseUrl: "https://proxy.example/ollama",
      }),
    ).toBe("https://proxy.example/ollama/api/tags?x=1");
    const viaLocal = {
      baseUrl: "http://127.0.0.1:11434",
      paths: { "/api/web_search": "/api/experimental/web_search" },
    };
    expect(retarget("https://ollama.com/api/web_search", viaLocal)).toBe(
      "http://127.0.0.1:11434/api/experimental/web_search",
    );
    expect(retarget("http://127.0.0.1:11434/api/chat", viaLocal)).toBe(
      "http://127.0.0.1:11434/api/chat",
    );
  });

  it("reads Retry-After as seconds or as a date", () => {
    expect(parseRetryAfter("42")).toBe(42);
    expect(parseRetryAfter(new Date(60_000).toUTCString(), 0)).toBe(60);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it("takes the service's message from JSON, short text, never an HTML page", () => {
    expect(serviceMessageFrom('{"error":"model not found"}', "application/json")).toBe(
      "model not found",
    );
    expect(serviceMessageFrom('{"error":{"message":"nested"}}', null)).toBe("nested");
    expect(serviceMessageFrom("upstream timed out", "text/plain")).toBe("upstream timed out");
    expect(serviceMessageFrom("<html><body>502</body></html>", "text/html")).toMatch(
      /HTML error page/,
    );
    expect(serviceMessageFrom("", null)).toBeUndefined();
  });

  it("links two signals and lets go of them", () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals([a.signal, undefined, b.signal]);
    const reason = new Error("why");
    b.abort(reason);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe(reason);

    const c = new AbortController();
    const other = linkSignals([c.signal]);
    other.dispose();
    c.abort();
    expect(other.signal.aborted).toBe(false);
  });

  it("reads an error page under the idle timeout, so one that stalls still fails the call", async () => {
    const server = await listenOnLoopback(async (_req, res) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.write('{"error":"overloa');
    });
    try {
      const upstreamFetch = createUpstreamFetch(
        { baseUrl: server.url, apiKey: "k", requiresKey: true, service: CLOUD },
        { ...DEFAULT_RETRY_POLICY, timeoutMs: 100, retries: 0 },
        createHttpTransport(),
      );
      const failure = await upstreamFetch(`${server.url}/api/web_search`, {
        method: "POST",
        body: "{}",
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UpstreamHttpError);
      expect((failure as UpstreamHttpError).status).toBe(500);
    } finally {
      await server.close();
    }
  });
});
