import { settleWithConcurrency } from "../concurrency.js";
import type { ServerConfig } from "../config.js";
import { type ModelRef, parseModelRef } from "../model-name.js";
import type { CallOptions, Endpoint, TaggedModel } from "./endpoint.js";
import { isAbortError } from "./signals.js";
import { TtlCache } from "./ttl-cache.js";
import type { Ways } from "./ways.js";

export interface ListedModel extends TaggedModel {
  where: "cloud" | "local";
  /** What it can do ("vision", "tools", "thinking", ...), when asked for and the server says. */
  capabilities?: string[];
}

const CLOUD_LIST_TTL_MS = 60_000;
const LOCAL_LIST_TTL_MS = 10_000;
const SHOW_TTL_MS = 10 * 60_000;
/** How many cloud models are asked what they can do, to name the ones that can. */
const MODELS_PROBED = 30;
export const SUGGESTED_MODELS = 8;
/** /api/show requests at once when list_models asks every model what it can do. */
const SHOWN_AT_ONCE = 8;

/** What models exist, where, and what each can do: cached, as the lists change slowly. */
export interface Catalog {
  /** The cloud's models: its catalogue, or the cloud models the local Ollama can reach. */
  cloudModels(options: CallOptions): Promise<ListedModel[]>;
  /** The local Ollama's /api/tags. */
  localTags(options: CallOptions): Promise<TaggedModel[]>;
  /** Every model this mode can run, each marked by where it runs, and what it can do if asked. */
  listModels(options: CallOptions, ask?: { capabilities?: boolean }): Promise<ListedModel[]>;
  /** What the model a chat would run on can do, from /api/show; undefined when it does not say. */
  capabilities(model: ModelRef, options: CallOptions): Promise<string[] | undefined>;
  /** Up to a few cloud models that say they can do `capability`. */
  modelsWith(capability: string, options: CallOptions): Promise<string[]>;
}

export function createCatalog(config: ServerConfig, ways: Ways, now: () => number): Catalog {
  const cloudList = new TtlCache<string, ListedModel[]>(CLOUD_LIST_TTL_MS, 256, now);
  const localList = new TtlCache<string, TaggedModel[]>(LOCAL_LIST_TTL_MS, 1, now);
  const shown = new TtlCache<string, string[] | undefined>(SHOW_TTL_MS, 512, now);

  const localTags = (options: CallOptions) =>
    localList.getOrLoad("tags", () => ways.local.tags(options));

  function cloudModels(options: CallOptions): Promise<ListedModel[]> {
    return cloudList.getOrLoad(options.lane ?? "", async () => {
      if (!ways.cloudViaLocal) {
        return (await ways.direct.tags(options)).map((m) => ({ ...m, where: "cloud" as const }));
      }
      const tags = await ways.toCloud(() => localTags(options));
      return tags
        .filter((m) => m.remote_host)
        .map((m) => ({ ...m, name: parseModelRef(m.name).base, where: "cloud" as const }));
    });
  }

  const showCapabilities = (endpoint: Endpoint, name: string, options: CallOptions) =>
    askCapabilities(shown, endpoint, name, options);

  return {
    cloudModels,
    localTags,

    async listModels(options, ask = {}) {
      const models = await modelsOfMode(
        config.mode,
        () => localTags(options),
        () => cloudModels(options),
      );
      if (!ask.capabilities) return models;
      return withCapabilities(models, (m) =>
        // In local mode, the cloud models listed are the local Ollama's, asked about there.
        m.where === "cloud" && config.mode !== "local"
          ? showCapabilities(ways.cloud, ways.cloudViaLocal ? `${m.name}:cloud` : m.name, options)
          : showCapabilities(ways.local, m.name, options),
      );
    },

    async capabilities(model, options) {
      const { endpoint, name } = await placeOf(config, ways, model, () => localTags(options));
      return showCapabilities(endpoint, name, options);
    },

    async modelsWith(capability, options) {
      const models = (await cloudModels(options).catch(() => [] as ListedModel[])).slice(
        0,
        MODELS_PROBED,
      );
      const found: string[] = [];
      await settleWithConcurrency(models, 4, async (m) => {
        const name = ways.cloudViaLocal ? `${m.name}:cloud` : m.name;
        const capabilities = await showCapabilities(ways.cloud, name, options);
        if (capabilities?.includes(capability)) found.push(m.name);
      });
      return models
        .map((m) => m.name)
        .filter((name) => found.includes(name))
        .slice(0, SUGGESTED_MODELS);
    },
  };
}

/** A model's capabilities, or undefined when the server does not say (or cannot be asked). */
function askCapabilities(
  shown: TtlCache<string, string[] | undefined>,
  endpoint: Endpoint,
  name: string,
  options: CallOptions,
): Promise<string[] | undefined> {
  return shown
    .getOrLoad(`${options.lane ?? ""}\u0000${endpoint.service.name}\u0000${name}`, async () => {
      try {
        return (await endpoint.show(name, options)).capabilities;
      } catch (error) {
        if (isAbortError(error)) throw error;
        return undefined;
      }
    })
    .catch((error: unknown) => {
      if (isAbortError(error) && !options.signal?.aborted) return undefined;
      throw error;
    });
}

/** Where a chat for this model would go, for asking about the model (hybrid: as chat decides). */
async function placeOf(
  config: ServerConfig,
  ways: Ways,
  model: ModelRef,
  localTags: () => Promise<TaggedModel[]>,
): Promise<{ endpoint: Endpoint; name: string }> {
  const cloud = () => ({ endpoint: ways.cloud, name: ways.cloudName(model) });
  if (config.mode === "cloud" || model.placement === "cloud") return cloud();
  if (config.mode === "local" || model.placement === "local") {
    return { endpoint: ways.local, name: ways.localModeName(model) };
  }
  const tags = await localTags().catch(() => []);
  return hasModel(tags, model.base) ? { endpoint: ways.local, name: model.base } : cloud();
}

/** Every model a mode can run, each marked by where it runs. */
async function modelsOfMode(
  mode: string,
  localTags: () => Promise<TaggedModel[]>,
  cloudModels: () => Promise<ListedModel[]>,
): Promise<ListedModel[]> {
  if (mode === "cloud") return cloudModels();
  const tags = await localTags();
  const locals = tags.filter((m) => !m.remote_host).map((m) => ({ ...m, where: "local" as const }));
  if (mode === "local") {
    const remotes = tags
      .filter((m) => m.remote_host)
      .map((m) => ({ ...m, where: "cloud" as const }));
    return [...locals, ...remotes];
  }
  return [...locals, ...(await cloudModels())];
}

/** The models, each with what its server says it can do (a few asked at a time). */
async function withCapabilities(
  models: ListedModel[],
  ask: (model: ListedModel) => Promise<string[] | undefined>,
): Promise<ListedModel[]> {
  const asked = await settleWithConcurrency(models, SHOWN_AT_ONCE, ask);
  return models.map((m, i) => {
    const result = asked[i];
    if (result?.status === "rejected") throw result.reason;
    return result?.value ? { ...m, capabilities: result.value } : m;
  });
}

/** Ollama names without a tag mean ":latest". */
export function hasModel(models: readonly { name: string }[], name: string): boolean {
  const wanted = withTag(name);
  return models.some((m) => withTag(m.name) === wanted);
}

function withTag(name: string): string {
  const lower = name.toLowerCase();
  return lower.slice(lower.lastIndexOf("/") + 1).includes(":") ? lower : `${lower}:latest`;
}
