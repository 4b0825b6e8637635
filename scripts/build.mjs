// Bundles the server into dist/: what `npx` runs is one file with no runtime dependencies, so a
// first launch downloads one package and starts without resolving hundreds of modules.
//   dist/index.cjs                the bin: scripts/bin-loader.cjs, which compiles main.cjs from a cache
//   dist/main.cjs                 the server (stdio, config, tools, upstream client)
//   dist/http.cjs                 the Streamable HTTP transport, loaded only with --http
//   dist/ollama.cjs               ollama-js, loaded at the first upstream call
//   dist/THIRD-PARTY-NOTICES.txt  licences of the bundled packages
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { build } from "esbuild";
import { common, leaveOutUnusedSdkImports, quickRejectInSdkGuards } from "./bundle-options.mjs";

/**
 * What a start does not need lives in files of its own, loaded on first use: the HTTP
 * transport (only with --http) and ollama-js (at the first upstream call).
 */
const LAZY_FILES = [
  { filter: /\/transports\/http\.js$/, file: "./http.cjs" },
  { filter: /^ollama$/, file: "./ollama.cjs" },
];
const lazyFiles = {
  name: "lazy-files",
  setup(b) {
    for (const { filter, file } of LAZY_FILES) {
      b.onResolve({ filter }, () => ({ path: file, external: true }));
    }
  },
};

const mainOptions = {
  ...common,
  entryPoints: ["src/index.ts"],
  outfile: "dist/main.cjs",
  plugins: [lazyFiles, leaveOutUnusedSdkImports, quickRejectInSdkGuards],
};

await rm("dist", { recursive: true, force: true });
const [, http, ollama] = await Promise.all([
  build(mainOptions),
  build({ ...common, entryPoints: ["src/transports/http.ts"], outfile: "dist/http.cjs", plugins: [leaveOutUnusedSdkImports, quickRejectInSdkGuards] }),
  build({
    ...common,
    stdin: { contents: 'export { Ollama } from "ollama";', resolveDir: ".", loader: "js" },
    outfile: "dist/ollama.cjs",
  }),
]);
await writeLoader();
// Second pass: the bundle answers tools/list with what the first pass's server answered.
const toolsList = await askToolsList("dist/index.cjs");
const main = await build({ ...mainOptions, define: { __TOOLS_LIST__: JSON.stringify(toolsList) } });
await writeLoader();
await writeFile("dist/THIRD-PARTY-NOTICES.txt", await notices([main.metafile, http.metafile, ollama.metafile]));

/** dist/index.cjs: the loader, told the hash of the main.cjs now in dist. */
async function writeLoader() {
  const hash = createHash("sha256").update(await readFile("dist/main.cjs")).digest("hex");
  const loader = (await readFile("scripts/bin-loader.cjs", "utf8")).replace("__BUNDLE_HASH__", hash.slice(0, 16));
  await writeFile("dist/index.cjs", loader, { mode: 0o755 });
}

/** The result of tools/list from the bin over stdio, in a clean environment. */
function askToolsList(bin) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin], { env: {}, stdio: ["pipe", "pipe", "ignore"] });
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error("the first-pass bundle did not answer tools/list within 10 s"));
    }, 10_000);
    const send = (message) => child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const message = JSON.parse(line);
      if (message.id === 1) {
        send({ method: "notifications/initialized" });
        send({ id: 2, method: "tools/list", params: {} });
      } else if (message.id === 2) {
        clearTimeout(timer);
        child.kill();
        if (message.error) reject(new Error(`tools/list failed: ${message.error.message}`));
        else resolve(message.result);
      }
    });
    child.on("error", reject);
    send({
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "build", version: "0" } },
    });
  });
}

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
