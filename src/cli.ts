import { parseArgs } from "node:util";
import {
  HTTP_SETTINGS,
  type HttpOptions,
  resolveConfig,
  resolveHttpOptions,
  SETTINGS,
  type ServerConfig,
} from "./config.js";
import { checkHttpOptions } from "./http/options.js";
import { checkOAuthOptions } from "./oauth/options.js";
import { ConfigError, type Env, type Flags, nearest, type Setting } from "./setting.js";

export type CliAction =
  | {
      kind: "serve";
      config: ServerConfig;
      http: HttpOptions;
      /** Settings given that this start does not use, each with why: said on stderr. */
      warnings: string[];
    }
  | { kind: "help" }
  | { kind: "version" };

/** The command line and environment, read and checked: what this start is to do. */
export function parseCli(argv: readonly string[], env: Env): CliAction {
  let values: ReturnType<typeof parseFlags>["values"];
  try {
    values = parseFlags(argv).values;
  } catch (error) {
    const unknown = /^Unknown option '--([^']+)'/.exec((error as Error).message)?.[1];
    const meant = unknown && nearest(unknown, allFlags());
    const hint = meant ? ` Did you mean --${meant}?` : "";
    throw new ConfigError(
      `${(error as Error).message}.${hint} Run with --help to see the options.`,
    );
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const flags: Flags = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === "string") flags[name] = value;
    if (value === true) flags[name] = "true";
  }
  const config = resolveConfig(flags, env);
  let http = resolveHttpOptions(flags, env);
  checkHttpOptions(config, http);
  if (http.auth === "oauth") http = { ...http, oauthSecret: checkOAuthOptions(config, http) };
  return {
    kind: "serve",
    config,
    http,
    warnings: [...misspelledVariables(env), ...ignoredSettings(flags, env, http)],
  };
}

function allSettings(): Setting[] {
  return [...Object.values(SETTINGS), ...Object.values(HTTP_SETTINGS)];
}

function allFlags(): string[] {
  return allSettings().flatMap((setting) => (setting.flag ? [setting.flag] : []));
}

function parseFlags(argv: readonly string[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "v" },
  };
  for (const setting of allSettings()) {
    if (setting.flag) options[setting.flag] = { type: setting.boolean ? "boolean" : "string" };
  }
  return parseArgs({ args: [...argv], strict: true, allowPositionals: false, options });
}

/** The Ollama server's own variables, often set in the same shell, are not typos of ours. */
const OLLAMA_OWN_VARIABLES = new Set(
  [
    "CONTEXT_LENGTH",
    "DEBUG",
    "FLASH_ATTENTION",
    "GPU_OVERHEAD",
    "INTEL_GPU",
    "KEEP_ALIVE",
    "KV_CACHE_TYPE",
    "LLM_LIBRARY",
    "LOAD_TIMEOUT",
    "MAX_LOADED_MODELS",
    "MAX_QUEUE",
    "MODELS",
    "MULTIUSER_CACHE",
    "NEW_ENGINE",
    "NOHISTORY",
    "NOPRUNE",
    "NUM_PARALLEL",
    "ORIGINS",
    "SCHED_SPREAD",
    "TMPDIR",
  ].map((name) => `OLLAMA_${name}`),
);

/**
 * Variables that look like ours but are not (OLLAMA_CLOUD_MODLE): set, and silently ignored,
 * they mislead. Only those a few edits from a setting are named, so Ollama's own variables and
 * other programs' pass unremarked.
 */
function misspelledVariables(env: Env): string[] {
  const known = allSettings().map((setting) => setting.env);
  return Object.keys(env)
    .filter(
      (name) =>
        /^(OLLAMA|MCP)_/.test(name) && !known.includes(name) && !OLLAMA_OWN_VARIABLES.has(name),
    )
    .flatMap((name) => {
      const meant = nearest(name, known);
      return meant
        ? [`${name} is not a setting of this server and is ignored: did you mean ${meant}?`]
        : [];
    });
}

/** The settings only OAuth sign-in reads. */
const OAUTH_ONLY = [
  HTTP_SETTINGS.publicUrl,
  HTTP_SETTINGS.oauthSecret,
  HTTP_SETTINGS.oauthSecretFile,
  HTTP_SETTINGS.oauthRedirectHosts,
  HTTP_SETTINGS.oauthClientIdHosts,
  HTTP_SETTINGS.oauthAccessTtlMs,
  HTTP_SETTINGS.oauthRefreshTtlMs,
  HTTP_SETTINGS.trustedProxies,
] as const;

/**
 * Settings given that this start does not read: silently ignored, they mislead. HTTP settings
 * without --http (`--port 3000` alone serves stdio), and sign-in settings without sign-in.
 */
function ignoredSettings(flags: Flags, env: Env, http: HttpOptions): string[] {
  const givenOf = (settings: readonly Setting[]) =>
    settings
      .filter(
        (setting) =>
          env[setting.env] !== undefined ||
          (setting.flag !== undefined && flags[setting.flag] !== undefined),
      )
      .map((setting) =>
        setting.flag && flags[setting.flag] !== undefined ? `--${setting.flag}` : setting.env,
      );
  const said = (given: string[], why: string) =>
    `${given.join(", ")} ${given.length === 1 ? "is" : "are"} ignored: ${why}`;
  if (!http.enabled) {
    const httpOnly = Object.values(HTTP_SETTINGS).filter(
      (setting) => setting !== HTTP_SETTINGS.enabled && setting !== HTTP_SETTINGS.shutdownGraceMs,
    );
    const given = givenOf(httpOnly);
    return given.length === 0
      ? []
      : [said(given, "this start serves stdio. Add --http (or MCP_HTTP=true) to serve HTTP.")];
  }
  if (http.auth === "oauth") return [];
  const given = givenOf(OAUTH_ONLY);
  return given.length === 0
    ? []
    : [
        said(
          given,
          "only sign-in reads that, and it is off (set MCP_HTTP_AUTH=oauth to turn it on).",
        ),
      ];
}
