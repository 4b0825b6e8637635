// Bundles the server into dist/, so what `npx` runs has no runtime dependencies to resolve:
//   dist/index.cjs                the bin: turns on Node's compile cache, then loads main.cjs
//   dist/main.cjs                 the server, every library it uses bundled as published
//   dist/redis.cjs                the Redis client, loaded only when OLLAMA_MCP_STORE is a Redis URL
//   dist/THIRD-PARTY-NOTICES.txt  licences of the bundled packages
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

// Node 22.1+ caches compiled code between starts; module.enableCompileCache is Node's own switch
// (NODE_DISABLE_COMPILE_CACHE=1 turns it off). It must run before the bundle is loaded.
const BIN = `#!/usr/bin/env node
"use strict";
try {
  require("node:module").enableCompileCache?.();
} catch {}
require("./main.cjs");
`;

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
};

// The Redis client is a third of a megabyte that only a shared store needs: main.cjs loads
// it from a file of its own, so a stdio start never compiles it.
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

await rm("dist", { recursive: true, force: true });
const [main, redis] = await Promise.all([
  build({
    ...common,
    entryPoints: ["src/index.ts"],
    outfile: "dist/main.cjs",
    plugins: [redisApart, zodStarts],
  }),
  build({
    ...common,
    stdin: { contents: 'export { createClient } from "redis";', resolveDir: ".", loader: "js" },
    outfile: "dist/redis.cjs",
  }),
]);
await writeFile("dist/index.cjs", BIN, { mode: 0o755 });
await writeFile(
  "dist/THIRD-PARTY-NOTICES.txt",
  await notices([main.metafile, redis.metafile]),
);

/** Name, version, licence and licence text of every package that ended up in a bundle. */
async function notices(metafiles) {
  const packageDirs = new Set();
  for (const metafile of metafiles) {
    for (const input of Object.keys(metafile.inputs)) {
      const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (match) packageDirs.add(match[1]);
    }
  }
  const sections = [];
  for (const dir of [...packageDirs].sort()) {
    const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    const licenseFile = (await readdir(dir)).find((f) => /^(licen[sc]e|copying)(\.|$)/i.test(f));
    const text = licenseFile ? await readFile(join(dir, licenseFile), "utf8") : "(no licence file shipped)";
    sections.push(`${pkg.name}@${pkg.version} (${pkg.license ?? "unknown licence"})\n\n${text.trim()}`);
  }
  return `ollama-cloud-mcp bundles the following packages.\n\n${sections.join(`\n\n${"-".repeat(72)}\n\n`)}\n`;
}
