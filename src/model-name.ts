/**
 * Ollama's model-name suffix grammar (as in ollama/ollama's internal/modelref):
 *   name:tag-cloud, name:tag:cloud, name:cloud   -> the cloud
 *   name:tag:local                               -> a local Ollama only
 * Suffixes are case-insensitive and surrounding space is ignored.
 */
export type ModelPlacement = "cloud" | "local" | "unspecified";

export interface ModelRef {
  /** What the user wrote, trimmed. */
  readonly input: string;
  /** The name without a placement suffix: what ollama.com's own API expects. */
  readonly base: string;
  readonly placement: ModelPlacement;
}

export class ModelNameError extends Error {
  override name = "ModelNameError";
}

export function parseModelRef(raw: string): ModelRef {
  const input = raw.trim();
  if (!input) throw new ModelNameError("the model name is empty");
  const outer = splitPlacementSuffix(input);
  if (
    outer.placement !== "unspecified" &&
    splitPlacementSuffix(outer.base).placement !== "unspecified"
  ) {
    throw new ModelNameError(`"${input}": use either ":local" or ":cloud", not both`);
  }
  if (!isValidBase(outer.base)) {
    throw new ModelNameError(
      `"${input}" is not a model name; use name[:tag], e.g. "gpt-oss:120b", "gpt-oss:120b-cloud" or "gpt-oss:20b:cloud"`,
    );
  }
  return { input, base: outer.base, placement: outer.placement };
}

/** Mirrors Ollama's parseSourceSuffix: only the part after the last colon can carry a suffix. */
function splitPlacementSuffix(name: string): { base: string; placement: ModelPlacement } {
  const colon = name.lastIndexOf(":");
  if (colon < 0) return { base: name, placement: "unspecified" };
  const suffixRaw = name.slice(colon + 1).trim();
  const suffix = suffixRaw.toLowerCase();
  if (suffix === "cloud") return { base: name.slice(0, colon), placement: "cloud" };
  if (suffix === "local") return { base: name.slice(0, colon), placement: "local" };
  if (!suffix.includes("/") && suffix.endsWith("-cloud")) {
    return {
      base: name.slice(0, colon + 1) + suffixRaw.slice(0, -"-cloud".length),
      placement: "cloud",
    };
  }
  return { base: name, placement: "unspecified" };
}

// namespace/name:tag with Ollama's allowed characters; no spaces, at most one tag.
const BASE = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*(:[a-z0-9_][a-z0-9._-]*)?$/i;

function isValidBase(base: string): boolean {
  return base.length > 0 && base.length <= 350 && BASE.test(base);
}
