import { SETTINGS } from "./config.js";
import { VERSION } from "./version.js";

export function helpText(): string {
  const rows = Object.values(SETTINGS).map((s) => {
    const flag = s.flag ? `--${s.flag} <value>` : "(no flag)";
    const fallback = s.default ? ` Default: ${s.default}.` : "";
    return `  ${s.env.padEnd(27)} ${flag.padEnd(30)} ${s.help}${fallback}`;
  });
  return [
    `ollama-cloud-mcp ${VERSION}: an MCP server for Ollama's cloud models and web search.`,
    "",
    "Usage: ollama-cloud-mcp [options]      (speaks MCP over stdio)",
    "",
    "Settings (flags override environment variables):",
    ...rows,
    "",
    "  -h, --help      Show this help.",
    "  -v, --version   Show the version.",
    "",
    "Setup, client configs and examples: see the README.",
  ].join("\n");
}
