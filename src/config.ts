import { parseArgs } from "node:util";
import { ModelNameError, parseModelRef } from "./model-name.js";

export const DEFAULT_CLOUD_HOST = "https://ollama.com";
export const DEFAULT_CLOUD_MODEL = "gpt-oss:120b";
export const API_KEYS_URL = "https://ollama.com/settings/keys";

export interface ServerConfig {
  /** The ollama.com key without any `Bearer ` prefix; undefined when not configured. */
  apiKey: string | undefined;
  /** Base URL of the cloud API, without a trailing slash. */
  cloudHost: string;
  defaultModel: string;
}

export type CliAction =
  | { kind: "serve"; config: ServerConfig }
  | { kind: "help" }
  | { kind: "version" };

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

/**
 * Each setting: its env var, its flag twin (if any) and its default.
 * The key has no flag on purpose: command lines are visible to every user of the machine.
 */
export const SETTINGS = [
  {
    env: "OLLAMA_API_KEY",
    flag: undefined,
    default: undefined,
    help: `API key for ollama.com (create one at ${API_KEYS_URL}). A leading "Bearer " is accepted.`,
  },
  {
    env: "OLLAMA_CLOUD_HOST",
    flag: "cloud-host",
    default: DEFAULT_CLOUD_HOST,
    help: "Base URL of Ollama's cloud API. Plain http:// is only allowed for loopback hosts.",
  },
  {
    env: "OLLAMA_CLOUD_MODEL",
    flag: "model",
    default: DEFAULT_CLOUD_MODEL,
    help: "Default model for cloud_chat and search_and_summarize.",
  },
] as const;

export function parseCli(argv: readonly string[], env: Env): CliAction {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}. Run with --help to see the options.`);
  }
  const { values } = parsed;
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  return {
    kind: "serve",
    config: resolveConfig({ cloudHost: values["cloud-host"], model: values.model }, env),
  };
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      "cloud-host": { type: "string" },
      model: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

interface Flags {
  cloudHost?: string | undefined;
  model?: string | undefined;
}

/** Layers defaults < environment < flags, then validates the result. */
export function resolveConfig(flags: Flags, env: Env): ServerConfig {
  const apiKey = normalizeApiKey(env.OLLAMA_API_KEY);
  const cloudHost = normalizeCloudHost(
    pick(flags.cloudHost, env.OLLAMA_CLOUD_HOST) ?? DEFAULT_CLOUD_HOST,
    apiKey !== undefined,
  );
  const defaultModel = validateDefaultModel(
    pick(flags.model, env.OLLAMA_CLOUD_MODEL) ?? DEFAULT_CLOUD_MODEL,
  );
  return { apiKey, cloudHost, defaultModel };
}

function validateDefaultModel(name: string): string {
  try {
    const ref = parseModelRef(name);
    if (ref.placement === "local") {
      throw new ConfigError(
        `OLLAMA_CLOUD_MODEL must be a cloud model; "${name}" is marked ":local".`,
      );
    }
    return ref.input;
  } catch (error) {
    if (error instanceof ModelNameError)
      throw new ConfigError(`OLLAMA_CLOUD_MODEL: ${error.message}`);
    throw error;
  }
}

/** The first value that is set and not blank, trimmed. */
function pick(...values: (string | undefined)[]): string | undefined {
  for (const value of values) {
    const trimmed = value?.trim();
    if (trimmed) return trimmed;
  }
  return undefined;
}

export function normalizeApiKey(raw: string | undefined): string | undefined {
  const key = raw
    ?.trim()
    .replace(/^bearer\s+/i, "")
    .trim();
  return key ? key : undefined;
}

export function normalizeCloudHost(raw: string, hasKey: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `OLLAMA_CLOUD_HOST must be an absolute http(s) URL such as ${DEFAULT_CLOUD_HOST}; got "${raw}".`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(
      `OLLAMA_CLOUD_HOST must use https:// (or http:// for a loopback host); got "${url.protocol}".`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      "OLLAMA_CLOUD_HOST must be a plain base URL without credentials, query or fragment.",
    );
  }
  if (url.protocol === "http:" && hasKey && !isLoopbackHostname(url.hostname)) {
    throw new ConfigError(
      `Refusing to send OLLAMA_API_KEY over plain http:// to ${url.host}. Use https://, or a loopback host (127.0.0.1, ::1, localhost) for a local proxy.`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}
