// How a server is bundled into one folder that needs no node_modules: used by scripts/build.mjs
// for dist/, and by the bench for the bare servers it measures ours against, so that both start
// the same way.
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

// Node 22.1+ caches compiled code between starts; module.enableCompileCache is Node's own switch
// (NODE_DISABLE_COMPILE_CACHE=1 turns it off). It must run before the bundle is loaded.
const BIN = `#!/usr/bin/env node
"use strict";
try {
  require("node:module").enableCompileCache?.();
} catch {}
import("./main.mjs");
`;

// The Redis client is a third of a megabyte that only a shared store needs: it is a file of
// its own (dist/redis.cjs), loaded only when OLLAMA_MCP_STORE is a Redis URL.
const redisApart = {
  name: "redis-apart",
  setup(b) {
    b.onResolve({ filter: /^redis$/ }, () => ({ path: "./redis.cjs", external: true }));
  },
};

// zod says its modules have no side effects. esbuild then leaves out the call that starts a
// module it started lazily (everything a dynamic import reaches, zod too) from a module that is
// not lazy, which then finds zod's classes undefined (evanw/esbuild#2326). Marking zod's files as
// having side effects keeps those calls.
const zodStarts = {
  name: "zod-starts",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "zod-starts") return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: "zod-starts",
      });
      if (resolved.errors.length > 0 || !/[\\/]node_modules[\\/]zod[\\/]/.test(resolved.path)) {
        return undefined;
      }
      return { ...resolved, sideEffects: true };
    });
  },
};

/**
 * Bundles `entry` into `dir`: main.mjs, the chunks it shares with what it imports on demand (an
 * HTTP server's stack is a chunk a stdio start never reads), and index.cjs, the bin that turns
 * on the compile cache and loads main.mjs. Returns esbuild's metafile.
 */
export async function bundleServer(entry, dir) {
  await rm(dir, { recursive: true, force: true });
  const result = await build({
    entryPoints: { main: entry },
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunks/[name]-[hash]",
    splitting: true,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    // The CommonJS packages in the bundle require Node's own modules.
    banner: {
      js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
    },
    minify: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    plugins: [redisApart, zodStarts],
  });
  await writeFile(join(dir, "index.cjs"), BIN, { mode: 0o755 });
  return result.metafile;
}

/** The Redis client as a CommonJS file beside the bundle (dir/redis.cjs). */
export async function bundleRedis(dir) {
  const result = await build({
    stdin: { contents: 'export { createClient } from "redis";', resolveDir: ".", loader: "js" },
    outfile: join(dir, "redis.cjs"),
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
  return result.metafile;
}
