// Bundle settings shared by the build (scripts/build.mjs) and the start-up benchmark, which
// bundles a tool-less server on the same SDK the same way to show the floor (bench/launch.ts).

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
 * src/no-elicitation-validator.ts instead). Together they were a quarter of the bundle. Each
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

