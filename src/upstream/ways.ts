import type { ServerConfig } from "../config.js";
import type { ModelRef } from "../model-name.js";
import { createEndpoint, type Endpoint } from "./endpoint.js";
import { CLOUD, NoWayToCloudError, type Service, UpstreamNetworkError } from "./errors.js";
import type { SeamDeps } from "./fetch-seam.js";

/** Where a call ran, for the caller's structured output. */
export interface Route {
  ran_on: "cloud" | "local";
  /** For the cloud: straight to ollama.com, or through the local Ollama. */
  via?: "direct" | "local";
  /** When a call the local Ollama could not serve ran on the cloud instead. */
  fallback?: { from: string; reason: string };
}

const EXPERIMENTAL_WEB_PATHS = {
  "/api/web_search": "/api/experimental/web_search",
  "/api/web_fetch": "/api/experimental/web_fetch",
};

/**
 * The two servers this one talks to, and how a model is named on each: ollama.com with the key,
 * and the local Ollama, which signs cloud calls with its own sign-in.
 */
export interface Ways {
  /** ollama.com: the key goes here and nowhere else. */
  direct: Endpoint;
  /** The local Ollama: it runs local models, and carries cloud calls when signed in. */
  local: Endpoint;
  localService: Service;
  /** Whether cloud-bound calls go through the local Ollama (OLLAMA_CLOUD_VIA=local). */
  cloudViaLocal: boolean;
  /** The endpoint cloud-bound calls go to. */
  cloud: Endpoint;
  cloudRoute: Route;
  /** The name the cloud's way in knows a model by. */
  cloudName(model: ModelRef): string;
  /** Local mode: the local Ollama gets every model, and a cloud suffix is its to route. */
  localModeName(model: ModelRef): string;
  /** A cloud-bound call: through a local Ollama that is not there, no way to the cloud is left. */
  toCloud<T>(call: () => Promise<T>): Promise<T>;
}

export function createWays(config: ServerConfig, seamDeps: SeamDeps): Ways {
  const localService: Service = {
    name: `your local Ollama at ${new URL(config.ollamaHost).host}`,
    setting: "OLLAMA_HOST",
  };
  const direct = createEndpoint(
    { baseUrl: config.cloudHost, apiKey: config.apiKey, requiresKey: true, service: CLOUD },
    seamDeps,
  );
  const local = createEndpoint(
    {
      baseUrl: config.ollamaHost,
      apiKey: undefined,
      requiresKey: false,
      service: localService,
      paths: EXPERIMENTAL_WEB_PATHS,
    },
    seamDeps,
  );
  const cloudViaLocal = config.cloudVia === "local";
  return {
    direct,
    local,
    localService,
    cloudViaLocal,
    cloud: cloudViaLocal ? local : direct,
    cloudRoute: { ran_on: "cloud", via: config.cloudVia },
    cloudName(model) {
      // ollama.com wants the bare name; the local Ollama routes by the suffix, so it keeps one.
      if (!cloudViaLocal) return model.base;
      return model.placement === "cloud" ? model.input : `${model.base}:cloud`;
    },
    localModeName(model) {
      return model.placement === "local" ? model.base : model.input;
    },
    async toCloud(call) {
      if (!cloudViaLocal) return call();
      try {
        return await call();
      } catch (error) {
        if (error instanceof UpstreamNetworkError && !config.apiKey) {
          throw new NoWayToCloudError(config.ollamaHost, { cause: error, service: localService });
        }
        throw error;
      }
    },
  };
}
