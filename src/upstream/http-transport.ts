import type { Agent, request as httpRequest, IncomingMessage } from "node:http";
import { pipeline, type Readable } from "node:stream";

/** One HTTP request as the upstream seam sends it. */
export interface ExchangeRequest {
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
  /** Aborting it fails the request, or the body being read, with the signal's reason. */
  signal: AbortSignal;
}

/** A response whose head has arrived; the body is read (or discarded) by the caller. */
export interface Exchange {
  status: number;
  statusText: string;
  header(name: string): string | undefined;
  /** The body, decompressed. A failure or an abort while reading throws from the iteration. */
  body: AsyncIterable<Uint8Array>;
  /** Drops the rest of the body and the connection it came on. */
  discard(): void;
}

export type SendRequest = (url: string, request: ExchangeRequest) => Promise<Exchange>;

/** Idle sockets close before a typical server's 5 s keep-alive, so a reused one is rarely stale. */
const FREE_SOCKET_TIMEOUT_MS = 4_000;

/**
 * HTTP/1.1 over node:http with kept-alive connections. The server used WHATWG fetch before; on
 * a web search that cost about 0.25 ms and twice the CPU per call more than node:http, most of
 * it in Request/Response bookkeeping and web streams that ollama-js does not need.
 * Redirects are not followed: the key must never travel to an address the user did not set.
 */
export function createHttpTransport(): SendRequest {
  let clients: Promise<Clients> | undefined;
  return async (url, request) => {
    // Loading node:http and node:https takes about 5 ms, which a start never needs to pay.
    clients ??= loadClients();
    return send(await clients, url, request);
  };
}

interface Client {
  request: typeof httpRequest;
  agent: Agent;
}
type Clients = Record<"http:" | "https:", Client>;

async function loadClients(): Promise<Clients> {
  const [http, https] = await Promise.all([import("node:http"), import("node:https")]);
  const options = {
    keepAlive: true,
    timeout: FREE_SOCKET_TIMEOUT_MS,
    // Node 24 proxies its global agent (and fetch) when told to use the environment's proxy,
    // but not agents made like these unless they ask. Older Nodes ignore the option.
    ...(usesEnvProxy() && { proxyEnv: process.env }),
  };
  return {
    "http:": { request: http.request, agent: new http.Agent(options) },
    "https:": { request: https.request, agent: new https.Agent(options) },
  };
}

function send(
  clients: Clients,
  url: string,
  { method, headers, body, signal }: ExchangeRequest,
): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    if (signal.aborted) return reject(abortReason(signal));
    const parsed = new URL(url);
    const client = parsed.protocol === "https:" ? clients["https:"] : clients["http:"];
    const request = client.request(parsed, {
      method,
      agent: client.agent,
      headers:
        body === undefined
          ? headers
          : { ...headers, "content-length": String(Buffer.byteLength(body)) },
    });
    const onAbort = () => request.destroy(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    const detach = () => signal.removeEventListener("abort", onAbort);
    // Stays attached: a socket can fail after the response has arrived, and an "error"
    // without a listener would end the process. Body failures reach the body's reader.
    request.on("error", (error) => {
      detach();
      reject(signal.aborted ? abortReason(signal) : error);
    });
    request.once("response", (response) => {
      response.on("error", () => {});
      response.once("close", detach);
      exchangeOf(response, signal).then(resolve, reject);
    });
    request.end(body);
  });
}

async function exchangeOf(response: IncomingMessage, signal: AbortSignal): Promise<Exchange> {
  const encoding = String(response.headers["content-encoding"] ?? "").toLowerCase();
  const decoded = encoding ? await decode(response, encoding) : response;
  return {
    status: response.statusCode ?? 0,
    statusText: response.statusMessage ?? "",
    header: (name) => {
      const value = response.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(", ") : value;
    },
    body: abortAware(decoded, signal),
    discard: () => response.destroy(),
  };
}

/** Nothing asks for compression, but a server that compresses anyway is still understood. */
async function decode(response: IncomingMessage, encoding: string): Promise<Readable> {
  const zlib = await import("node:zlib");
  const decoder =
    encoding === "gzip" || encoding === "x-gzip"
      ? zlib.createGunzip()
      : encoding === "deflate"
        ? zlib.createInflate()
        : encoding === "br"
          ? zlib.createBrotliDecompress()
          : undefined;
  return decoder ? pipeline(response, decoder, () => {}) : response;
}

/** A body that fails with the signal's reason once it is aborted, as fetch's body does. */
async function* abortAware(body: Readable, signal: AbortSignal): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of body) {
      if (signal.aborted) throw abortReason(signal);
      yield chunk as Uint8Array;
    }
  } catch (error) {
    // An abort destroys the socket, which the body reports as its own "aborted" error.
    throw signal.aborted ? abortReason(signal) : error;
  } finally {
    body.destroy();
  }
}

/** The signal's reason when it is an error; a cancel whose reason is a bare string is an AbortError. */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException(String(signal.reason ?? "The operation was aborted"), "AbortError");
}

function usesEnvProxy(): boolean {
  return (
    process.env.NODE_USE_ENV_PROXY === "1" ||
    process.execArgv.includes("--use-env-proxy") ||
    /(^|\s)--use-env-proxy(\s|$)/.test(process.env.NODE_OPTIONS ?? "")
  );
}
