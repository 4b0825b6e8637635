import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterEach, beforeAll } from "vitest";
import type { FakeOllamaCloud } from "../fake-ollama-cloud.js";
import { useFake } from "../harness.js";
import { assertBuilt, binEnv, type HttpBin, spawnHttpBin } from "../spawn-bin.js";

/** The headers every Streamable HTTP POST carries. */
export const MCP_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

/**
 * For an end-to-end file: one fake cloud for all its tests; built bins serving HTTP and SDK
 * clients connected to them, made per test and all stopped after each.
 */
export function useHttpBins(): {
  readonly fake: FakeOllamaCloud;
  start(args?: string[], env?: Record<string, string | undefined>): Promise<HttpBin>;
  client(
    url: string,
    headers?: Record<string, string>,
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }>;
} {
  const cloud = useFake();
  const bins: HttpBin[] = [];
  const clients: Client[] = [];
  beforeAll(assertBuilt);
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await Promise.all(bins.splice(0).map((b) => b.stop()));
  });
  return {
    get fake() {
      return cloud.fake;
    },
    async start(args = [], env = {}) {
      const bin = await spawnHttpBin(binEnv(cloud.fake, env), args);
      bins.push(bin);
      return bin;
    },
    async client(url, headers = {}) {
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers },
      });
      const client = new Client({ name: "http-e2e", version: "1.0.0" });
      await client.connect(transport);
      clients.push(client);
      return { client, transport };
    },
  };
}
