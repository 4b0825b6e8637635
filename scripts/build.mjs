// Bundles the server into dist/, so what `npx` runs has no runtime dependencies to resolve:
//   dist/index.cjs                the bin: turns on Node's compile cache, then loads main.mjs
//   dist/main.mjs, dist/chunks/   the server, every library it uses bundled as published; what
//                                 only HTTP (and its sign-in) needs is in chunks loaded on demand
//   dist/redis.cjs                the Redis client, loaded only when OLLAMA_MCP_STORE is a Redis URL
//   dist/views/ollama-cloud.html  the MCP Apps views (cloud_usage, consensus), read only when asked
//   dist/THIRD-PARTY-NOTICES.txt  licences of the bundled packages
// scripts/bundle.mjs says how; the bench bundles its bare servers the same way.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bundleRedis, bundleServer } from "./bundle.mjs";
import { buildViews } from "./views.mjs";

const main = await bundleServer("src/index.ts", "dist");
const redis = await bundleRedis("dist");
const views = await buildViews("dist");
await writeFile("dist/THIRD-PARTY-NOTICES.txt", await notices([main, redis, views.metafile]));

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
