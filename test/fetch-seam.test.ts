import { describe, expect, it } from "vitest";
import { systemClock } from "../src/clock.js";
import { redactor } from "../src/redact.js";
import { parseRetryAfter, serviceMessageFrom } from "../src/upstream/error-mapping.js";
import { CLOUD, UpstreamHttpError } from "../src/upstream/errors.js";
import { createSeam, retarget, type SeamDeps } from "../src/upstream/fetch-seam.js";
import { Limiter } from "../src/upstream/limiter.js";
import { DEFAULT_RETRY_POLICY, RetryBudget } from "../src/upstream/retry.js";
import { linkSignals } from "../src/upstream/signals.js";
import { listenOnLoopback } from "./loopback-server.js";

const seamDeps = (overrides: Partial<SeamDeps> = {}): SeamDeps => ({
  policy: DEFAULT_RETRY_POLICY,
  clock: systemClock,
  fetch: (input, init) => fetch(input, init),
  limiter: new Limiter(() => Date.now(), 16),
  budget: new RetryBudget(0.2, systemClock),
  redact: redactor([]),
  ...overrides,
});

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
    expect(parseRetryAfter("42", 0)).toBe(42);
    expect(parseRetryAfter(new Date(60_000).toUTCString(), 0)).toBe(60);
    expect(parseRetryAfter("soon", 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
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
      const seam = createSeam(
        { baseUrl: server.url, apiKey: "k", requiresKey: true, service: CLOUD },
        seamDeps({ policy: { ...DEFAULT_RETRY_POLICY, timeoutMs: 100, retries: 0 } }),
      );
      const failure = await seam
        .fetch(`${server.url}/api/web_search`, {
          method: "POST",
          body: "{}",
        })
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UpstreamHttpError);
      expect((failure as UpstreamHttpError).status).toBe(500);
    } finally {
      await server.close();
    }
  });
});

describe("the seam over the platform fetch", () => {
  const target = (url: string) => ({
    baseUrl: url,
    apiKey: "k-123456",
    requiresKey: true,
    service: CLOUD,
  });

  it("decodes a compressed answer, as fetch does", async () => {
    const { gzipSync } = await import("node:zlib");
    const server = await listenOnLoopback(async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
      res.end(gzipSync('{"results":[]}'));
    });
    try {
      const response = await createSeam(target(server.url), seamDeps()).fetch(
        `${server.url}/api/web_search`,
        { method: "POST", body: "{}" },
      );
      expect(await response.json()).toEqual({ results: [] });
    } finally {
      await server.close();
    }
  });

  it("hands back a redirect as an error without following it", async () => {
    let requests = 0;
    const server = await listenOnLoopback(async (_req, res) => {
      requests++;
      res.writeHead(307, { location: "http://127.0.0.1:9/elsewhere" });
      res.end();
    });
    try {
      const failure = await createSeam(target(server.url), seamDeps())
        .fetch(`${server.url}/api/tags`)
        .catch((error: unknown) => error);
      expect((failure as Error).name).toBe("RedirectError");
      expect((failure as Error).message).toMatch(
        /redirect \(307\) to http:\/\/127\.0\.0\.1:9\/elsewhere/,
      );
      expect(requests).toBe(1);
    } finally {
      await server.close();
    }
  });
});
