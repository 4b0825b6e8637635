// Bundle settings shared by the build (scripts/build.mjs) and the start-up benchmark, which
// bundles a tool-less server on the same SDK the same way to show the floor (bench/launch.ts).
import { readFile } from "node:fs/promises";

export const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  legalComments: "none",
  // The loader compiles main.cjs with vm.Script on Node 20, where import() would need a
  // callback; require() works everywhere.
  supported: { "dynamic-import": false },
  metafile: true,
  logLevel: "warning",
};

/**
 * Modules the SDK imports for paths this server never takes, left out of the bundle: Zod 3
 * support (every schema here is Zod 4) and the default Ajv validator (the server passes
 * src/no-elicitation-validator.ts instead), 196 KB of the bundle between them. Each
 * stand-in throws if reached, so a change that starts to need one fails loudly in the e2e tests.
 */
const UNUSED_SDK_IMPORTS = {
  "zod/v3": ["object"],
  "zod-to-json-schema": ["zodToJsonSchema"],
  "../validation/ajv-provider.js": ["AjvJsonSchemaValidator"],
};

export const leaveOutUnusedSdkImports = {
  name: "leave-out-unused-sdk-imports",
  setup(b) {
    b.onResolve({ filter: /^(zod\/v3|zod-to-json-schema|\.\.\/validation\/ajv-provider\.js)$/ }, (args) =>
      args.importer.includes("/@modelcontextprotocol/sdk/")
        ? { path: args.path, namespace: "left-out" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "left-out" }, (args) => ({
      contents: UNUSED_SDK_IMPORTS[args.path]
        .map(
          (name) =>
            `export function ${name}() { throw new Error("${args.path} (${name}) is left out of the ollama-cloud-mcp bundle"); }`,
        )
        .join("\n"),
    }));
  },
};

/**
 * The SDK sorts every incoming message by trying it against the result, error, request and
 * notification schemas in turn, so each request is first rejected by two full Zod parses
 * (about 30 µs of server CPU per web search here). Each guard below gets a check for a key its
 * schema requires, which cannot change an answer and skips the parses that must fail.
 */
const SDK_GUARDS = {
  isJSONRPCResultResponse: ["JSONRPCResultResponseSchema", "result"],
  isJSONRPCErrorResponse: ["JSONRPCErrorResponseSchema", "error"],
  isJSONRPCRequest: ["JSONRPCRequestSchema", "method"],
  isJSONRPCNotification: ["JSONRPCNotificationSchema", "method"],
};

export const quickRejectInSdkGuards = {
  name: "quick-reject-in-sdk-guards",
  setup(b) {
    b.onLoad({ filter: /@modelcontextprotocol[\\/]sdk[\\/]dist[\\/]esm[\\/]types\.js$/ }, async (args) => {
      let source = await readFile(args.path, "utf8");
      for (const [guard, [schema, key]] of Object.entries(SDK_GUARDS)) {
        const original = `export const ${guard} = (value) => ${schema}.safeParse(value).success;`;
        if (!source.includes(original)) {
          throw new Error(`${guard} in the SDK's types.js has changed; review quickRejectInSdkGuards`);
        }
        source = source.replace(
          original,
          `export const ${guard} = (value) => typeof value === "object" && value !== null && value[${JSON.stringify(key)}] !== undefined && ${schema}.safeParse(value).success;`,
        );
      }
      return { contents: source, loader: "js" };
    });
  },
};
