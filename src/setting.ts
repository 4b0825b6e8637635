/**
 * What a setting is, and how a table of them is read: defaults < environment < flags, each value
 * through its own parser. The tables themselves are in config.ts; the rules that are not just a
 * value's shape live with the modules they belong to.
 */

export class ConfigError extends Error {
  override name = "ConfigError";
}

export type Env = Record<string, string | undefined>;
/** Flags given, by name, as text ("true" for a switch). */
export type Flags = Partial<Record<string, string>>;

/** The values resolved before this one, for the few settings whose meaning depends on another. */
export type Earlier = Readonly<Record<string, unknown>>;

export interface Setting<T = unknown> {
  env: string;
  /** The flag twin; a secret has none on purpose: command lines are visible to every user. */
  flag: string | undefined;
  default: string | undefined;
  help: string;
  /** A switch: the flag takes no value, the env var takes true/false or 1/0. */
  boolean?: true;
  /** A whole number within these bounds. */
  range?: readonly [number, number];
  /** The value from its text (undefined: not given and no default); throws a ConfigError. */
  parse: (text: string | undefined, name: string, earlier: Earlier) => T;
}

/** The values a table resolves to, each typed by its parser. */
export type SettingValues<T extends Record<string, Setting>> = {
  -readonly [K in keyof T]: ReturnType<T[K]["parse"]>;
};

/** How messages name a setting: its variable, and its flag when it has one. */
export function settingName(setting: Pick<Setting, "env" | "flag">): string {
  return setting.flag ? `${setting.env} (--${setting.flag})` : setting.env;
}

/** Resolves every setting of a table in its order; a later parser may read an earlier value. */
export function resolveSettings<T extends Record<string, Setting>>(
  table: T,
  flags: Flags,
  env: Env,
): SettingValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(table)) {
    values[key] = setting.parse(layered(setting, flags, env), settingName(setting), values);
  }
  return values as SettingValues<T>;
}

/** A setting's value: its flag, else its env var, else its default. */
function layered(setting: Setting, flags: Flags, env: Env): string | undefined {
  return pick(setting.flag ? flags[setting.flag] : undefined, env[setting.env]) ?? setting.default;
}

/**
 * A `${user_config.x}` left as it is: Claude Desktop passes an MCP Bundle's optional setting that
 * way when the user left it empty. It means "not set".
 */
const UNFILLED_PLACEHOLDER = /^\$\{user_config\.[\w.-]+\}$/;

/** The first value that is set and not blank, trimmed. */
function pick(...values: (string | undefined)[]): string | undefined {
  for (const value of values) {
    const trimmed = value?.trim();
    if (trimmed && !UNFILLED_PLACEHOLDER.test(trimmed)) return trimmed;
  }
  return undefined;
}

// Parsers for the shapes most settings take.

export function text(value: string | undefined): string | undefined {
  return value;
}

/** Text that always has a value (its default, at least). */
export function given(value: string | undefined): string {
  return value as string;
}

export function whole(min: number, max: number) {
  return {
    range: [min, max] as const,
    parse: (value: string | undefined, name: string): number => {
      const parsed = Number(value);
      if (!value || !/^\d+$/.test(value) || parsed < min || parsed > max) {
        throw new ConfigError(
          `${name} must be a whole number from ${min} to ${max}; got "${value}".`,
        );
      }
      return parsed;
    },
  };
}

export function trueOrFalse(value: string | undefined, name: string): boolean {
  const normalized = (value ?? "").toLowerCase();
  if (normalized === "true" || normalized === "1") return true;
  if (normalized === "false" || normalized === "0" || normalized === "") return false;
  throw new ConfigError(`${name} must be true or false (or 1/0); got "${value}".`);
}

/** A switch: its flag takes no value. */
export const onSwitch = { boolean: true, parse: trueOrFalse } as const;

export function onOrOff(value: string | undefined, name: string): boolean {
  const normalized = (value ?? "").toLowerCase();
  if (normalized === "on") return true;
  if (normalized === "off") return false;
  throw new ConfigError(`${name} must be on or off; got "${value}".`);
}

/** One of a few words, in any case. */
export function oneOf<const W extends string>(words: readonly W[]) {
  return (value: string | undefined, name: string): W => {
    const word = (value ?? "").toLowerCase() as W;
    if (!words.includes(word)) {
      const choices = `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
      throw new ConfigError(`${name} must be ${choices}; got "${value}".`);
    }
    return word;
  };
}

/** A comma-separated list, blanks dropped. */
export function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** The candidate a mistyped name most likely meant: a few edits away, or the same without "_". */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  const plain = (word: string) => word.replace(/[_-]/g, "");
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = plain(name) === plain(candidate) ? 0 : editDistance(name, candidate);
    if (
      distance <= Math.max(2, Math.floor(candidate.length / 4)) &&
      distance < (best?.distance ?? Infinity)
    ) {
      best = { candidate, distance };
    }
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(
        Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
