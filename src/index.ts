#!/usr/bin/env node
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { ConfigError, parseCli } from "./config.js";
import { helpText } from "./help.js";
import { createServer } from "./server.js";
import { createCloudClient } from "./upstream/cloud-client.js";
import { VERSION } from "./version.js";

const writeErr = (line: string) => process.stderr.write(`ollama-cloud-mcp: ${line}\n`);

/**
 * On stdio, stdout is the protocol. Libraries that print (ollama-js logs with console.log on
 * some error paths) must not reach it, so console output goes to stderr.
 */
function keepStdoutForProtocol(): void {
  const toStderr = (...args: unknown[]) =>
    process.stderr.write(`${args.map((a) => (typeof a === "string" ? a : String(a))).join(" ")}\n`);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
}

async function main(): Promise<void> {
  let action: ReturnType<typeof parseCli>;
  try {
    action = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      writeErr(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (action.kind === "help") {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  if (action.kind === "version") {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  keepStdoutForProtocol();
  const { config } = action;
  const server = createServer({
    config,
    client: createCloudClient({ config }),
    writeLog: writeErr,
  });
  await server.connect(new StdioServerTransport());
  if (!config.apiKey) {
    writeErr("OLLAMA_API_KEY is not set; tools are listed but calls will explain how to set it.");
  }
  const shutdown = () => {
    void server.close().finally(() => process.exit(0));
  };
  process.stdin.on("end", shutdown);
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  writeErr(`fatal: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
