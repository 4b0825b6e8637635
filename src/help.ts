import { HTTP_SETTINGS, SETTINGS } from "./config.js";
import { VERSION } from "./version.js";

export function helpText(): string {
  const row = (s: {
    env: string;
    flag?: string;
    default?: string;
    help: string;
    boolean?: true;
  }) => {
    const flag = s.flag ? `--${s.flag}${s.boolean ? "" : " <value>"}` : "(no flag)";
    const fallback = s.default ? ` Default: ${s.default}.` : "";
    return `  ${s.env.padEnd(27)} ${flag.padEnd(30)} ${s.help}${fallback}`;
  };
  return [
    `ollama-cloud-mcp ${VERSION}: an MCP server for Ollama's cloud models and web search.`,
    "",
    "Usage: ollama-cloud-mcp [options]               MCP over stdio (for desktop clients)",
    "       ollama-cloud-mcp --http [options]        MCP over Streamable HTTP at /mcp",
    "",
    "Settings (flags override environment variables):",
    ...Object.values(SETTINGS).map(row),
    "",
    "HTTP (with --http):",
    ...Object.values(HTTP_SETTINGS).map(row),
    "",
    "  -h, --help      Show this help.",
    "  -v, --version   Show the version.",
    "",
    "Setup, client configs and examples: see the README.",
  ].join("\n");
}
