import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
} from "@modelcontextprotocol/sdk/types.js";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { quickRejectInSdkGuards } from "../scripts/bundle-options.mjs";

/** The SDK's own guards, as the source (not the bundle) runs them. */
const SDK_GUARDS = {
  isJSONRPCResultResponse,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCNotification,
};
const GUARDS = Object.keys(SDK_GUARDS) as (keyof typeof SDK_GUARDS)[];

const MESSAGES: unknown[] = [
  { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x" } },
  { jsonrpc: "2.0", method: "notifications/initialized" },
  { jsonrpc: "2.0", id: 1, method: "x", extra: true },
  { jsonrpc: "2.0", id: "a", result: {} },
  { jsonrpc: "2.0", id: 2, result: { content: [] } },
  { jsonrpc: "2.0", id: 2, result: null },
  { jsonrpc: "2.0", id: 3, error: { code: -32601, message: "no" } },
  { jsonrpc: "2.0", error: { code: -32700, message: "parse" } },
  { jsonrpc: "2.0", id: 3, error: { code: "x" } },
  { jsonrpc: "1.0", id: 1, method: "x" },
  { id: 1, method: "x" },
  { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "both" } },
  { jsonrpc: "2.0", id: 1, method: undefined },
  {},
  [],
  null,
  "text",
  42,
];

describe("the bundle's quicker SDK message guards", () => {
  it("answer exactly as the SDK's own guards do", async () => {
    const bundled = await build({
      stdin: {
        contents: `export { ${GUARDS.join(", ")} } from "@modelcontextprotocol/sdk/types.js";`,
        resolveDir: process.cwd(),
        loader: "js",
      },
      bundle: true,
      platform: "node",
      format: "cjs",
      write: false,
      logLevel: "silent",
      plugins: [quickRejectInSdkGuards],
    });
    const source = bundled.outputFiles[0]?.text ?? "";
    expect(source).toContain("!== void 0 &&");
    const module = { exports: {} as Record<string, (value: unknown) => boolean> };
    new Function("module", "exports", "require", source)(module, module.exports, require);
    for (const guard of GUARDS) {
      for (const message of MESSAGES) {
        expect([guard, message, module.exports[guard]?.(message)]).toEqual([
          guard,
          message,
          SDK_GUARDS[guard](message),
        ]);
      }
    }
  });
});
