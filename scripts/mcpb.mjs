// Builds the MCP Bundle for one-click install in Claude Desktop (and other MCPB clients):
// ollama-cloud-mcp-<version>.mcpb, validated and packed by the official @anthropic-ai/mcpb CLI.
// It holds the dist/ files npm publishes (as server/), the skills, and a manifest whose user_config asks for the API key, the mode and the local
// Ollama. Usage: node scripts/mcpb.mjs [--out <dir>] (npm run mcpb builds dist/ first).
import { execFileSync, spawn } from "node:child_process";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MCPB = join(ROOT, "node_modules", ".bin", "mcpb");
const outFlag = process.argv.indexOf("--out");
const outDir = resolve(outFlag > 0 ? process.argv[outFlag + 1] : ROOT);
const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
const stage = join(ROOT, "build", "mcpb");
await rm(stage, { recursive: true, force: true });
await mkdir(stage, { recursive: true });
await cp(join(ROOT, "dist"), join(stage, "server"), { recursive: true });
// The skills sit beside the server's folder, as beside dist/ in the npm package.
await cp(join(ROOT, "skills"), join(stage, "skills"), { recursive: true });
const tools = await listTools(join(stage, "server", "index.cjs"));
await writeFile(join(stage, "manifest.json"), `${JSON.stringify(manifest(tools), null, 2)}\n`);

// pack validates the manifest itself. Run from the stage so its listing names the bundle's own
// paths (manifest.json, server/), not paths relative to the project.
const output = join(outDir, `${pkg.name}-${pkg.version}.mcpb`);
await rm(output, { force: true });
execFileSync(MCPB, ["pack", ".", output], { cwd: stage, stdio: "inherit" });
process.stdout.write(
  "\nTo install it: double-click the file, or drag it onto Claude Desktop's Settings → Extensions, and fill in your Ollama API key there.\n",
);

function manifest(tools) {
  return {
    manifest_version: "0.3",
    name: pkg.name,
    display_name: "Ollama Cloud",
    version: pkg.version,
    description: pkg.description,
    long_description:
      "Large open-weight models on Ollama's cloud GPUs, and fresh knowledge from the live web through Ollama's web search: ask a big model for a second opinion, search and read pages, or let a model research a question and answer with numbered citations. Calls that take longer than a minute come back by handle (get_result), so they finish in Claude Desktop. Needs an API key from https://ollama.com/settings/keys, or a local Ollama app signed in with `ollama signin` (mode hybrid or local).",
    author: { name: "ollama-cloud-mcp contributors" },
    license: pkg.license,
    keywords: pkg.keywords,
    server: {
      type: "node",
      entry_point: "server/index.cjs",
      mcp_config: {
        command: "node",
        args: ["${__dirname}/server/index.cjs"],
        env: {
          OLLAMA_API_KEY: "${user_config.api_key}",
          OLLAMA_MODE: "${user_config.mode}",
          OLLAMA_HOST: "${user_config.ollama_host}",
        },
      },
    },
    tools,
    privacy_policies: ["https://ollama.com/privacy"],
    compatibility: {
      platforms: ["darwin", "win32", "linux"],
      runtimes: { node: pkg.engines.node },
    },
    // Each has a default: Claude Desktop passes a setting left empty as the literal placeholder.
    user_config: {
      api_key: {
        type: "string",
        title: "Ollama API key",
        description:
          "Create one at https://ollama.com/settings/keys. Leave it empty to reach the cloud through the Ollama app on this computer instead (run `ollama signin` once, and set Mode to hybrid or local).",
        sensitive: true,
        required: false,
        default: "",
      },
      mode: {
        type: "string",
        title: "Mode",
        description:
          "cloud: Ollama's cloud only. hybrid: models on your Ollama when it has them, the cloud otherwise. local: chat stays on your Ollama.",
        required: false,
        default: "cloud",
      },
      ollama_host: {
        type: "string",
        title: "Local Ollama",
        description: "Where the Ollama app listens (used in hybrid and local modes).",
        required: false,
        default: "http://127.0.0.1:11434",
      },
    },
  };
}

/** The tools, as the built server lists them: each with the first sentence of its description. */
function listTools(bin) {
  return new Promise((resolveTools, reject) => {
    const child = spawn(process.execPath, [bin], {
      env: { PATH: process.env.PATH ?? "" },
      stdio: ["pipe", "pipe", "ignore"],
    });
    const send = (message) => child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const message = JSON.parse(line);
      if (message.id === 1) {
        send({ method: "notifications/initialized" });
        send({ id: 2, method: "tools/list", params: {} });
      } else if (message.id === 2) {
        child.stdin.end();
        if (message.error) return reject(new Error(`tools/list failed: ${message.error.message}`));
        resolveTools(
          message.result.tools.map((tool) => ({
            name: tool.name,
            description: tool.description.split(/(?<=\.)\s/)[0],
          })),
        );
      }
    });
    child.on("error", reject);
    send({
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "mcpb", version: "1" } },
    });
  });
}
