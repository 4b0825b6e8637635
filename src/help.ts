import { HTTP_SETTINGS, SETTINGS } from "./config.js";
import { VERSION } from "./version.js";

const WIDTH = 80;
const INDENT = "      ";

interface HelpSetting {
  env: string;
  flag?: string | undefined;
  default?: string | undefined;
  help: string;
  boolean?: true;
}

/** Each setting as a heading line (flag, variable, default) and its help wrapped beneath. */
function describe(setting: HelpSetting): string {
  const flag = setting.flag
    ? `, --${setting.flag}${setting.boolean ? "" : " <value>"}`
    : " (no flag: command lines are visible to other users)";
  const fallback = setting.default ? `  [default: ${setting.default}]` : "";
  return [`  ${setting.env}${flag}${fallback}`, ...wrap(setting.help)].join("\n");
}

function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && INDENT.length + line.length + 1 + word.length > WIDTH) {
      lines.push(INDENT + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(INDENT + line);
  return lines;
}

export function helpText(): string {
  return [
    `ollama-cloud-mcp ${VERSION}: an MCP server for Ollama's cloud models and web search.`,
    "",
    "Usage:",
    "  ollama-cloud-mcp [options]           MCP over stdio, for clients that start the server",
    "  ollama-cloud-mcp --http [options]    MCP over Streamable HTTP at /mcp",
    "",
    "Every setting is an environment variable; its flag, when given, wins.",
    "",
    ...Object.values(SETTINGS).map(describe),
    "",
    "HTTP (with --http):",
    "",
    ...Object.values(HTTP_SETTINGS).map(describe),
    "",
    "  -h, --help       Show this help.",
    "  -v, --version    Show the version.",
    "",
    "Exit codes: 0 after a clean stop, 2 for a setting that cannot be used (the message says",
    "which), 1 for anything else. Setup, client configs and examples: see the README.",
  ].join("\n");
}
