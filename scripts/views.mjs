// Builds the page the MCP Apps views are served from (dist/views/ollama-cloud.html): the
// views' script, bundled with the extension's App class, inlined into src/views/page.html, so
// the page loads nothing from the network. The server reads it only when a client reads its
// ui:// resource.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

export const VIEW_PAGE = "ollama-cloud.html";

// zod re-exports every translation of its messages as a namespace, which a bundle cannot
// shake; the views show no zod message, so only English is bundled (a third of the page).
const englishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /[\\/]locales[\\/]index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: "zod-locales", namespace: "zod-english" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-english" }, () => ({
      contents: 'export { default as en } from "zod/v4/locales/en.js";',
      resolveDir: process.cwd(),
      loader: "js",
    }));
  },
};

/** Writes the page into `dir`/views; returns esbuild's metafile and the page's size in bytes. */
export async function buildViews(dir) {
  const result = await build({
    entryPoints: ["src/views/app.ts"],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    metafile: true,
    legalComments: "none",
    plugins: [englishOnly],
  });
  const script = result.outputFiles[0].text.replace(/<\/(script)/gi, "<\\/$1");
  const template = await readFile("src/views/page.html", "utf8");
  const page = template.replace("/*view*/", () => script);
  await mkdir(join(dir, "views"), { recursive: true });
  await writeFile(join(dir, "views", VIEW_PAGE), page);
  return { metafile: result.metafile, bytes: Buffer.byteLength(page) };
}
