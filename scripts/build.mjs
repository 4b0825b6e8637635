// Bundles the server into dist/: what `npx` runs is one file with no runtime dependencies, so a
// first launch downloads one package and starts without resolving hundreds of modules.
//   dist/index.cjs                the bin: turns on Node's compile cache, then loads main.cjs
//   dist/main.cjs                 the server (stdio, config, tools, upstream client)
//   dist/http.cjs                 the Streamable HTTP transport, loaded only with --http
//   dist/THIRD-PARTY-NOTICES.txt  licences of the bundled packages
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

// Node 22+ can cache compiled code between runs, but only for modules loaded after it is turned
// on, hence this loader in front of the bundle. Older Nodes skip it.
const LOADER = `#!/usr/bin/env node
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

/** The bin loads the HTTP bundle at run time instead of inlining it. */
const httpAsSeparateFile = {
  name: "http-as-separate-file",
  setup(b) {
    b.onResolve({ filter: /\/transports\/http\.js$/ }, () => ({ path: "./http.cjs", external: true }));
  },
};

await rm("dist", { recursive: true, force: true });
const results = await Promise.all([
  build({ ...common, entryPoints: ["src/index.ts"], outfile: "dist/main.cjs", plugins: [httpAsSeparateFile] }),
  build({ ...common, entryPoints: ["src/transports/http.ts"], outfile: "dist/http.cjs" }),
]);
await writeFile("dist/THIRD-PARTY-NOTICES.txt", await notices(results.map((r) => r.metafile)));
await writeFile("dist/index.cjs", LOADER, { mode: 0o755 });

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
