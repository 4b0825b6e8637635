import type { ServerConfig } from "../config.js";
import { type ModelRef, parseModelRef } from "../model-name.js";
import { type Catalog, hasModel, type ListedModel } from "./catalog.js";
import type { ChatReply } from "./endpoint.js";
import {
  CLOUD,
  capitalize,
  ModelNotFoundError,
  UpstreamError,
  UpstreamHttpError,
  UpstreamNetworkError,
} from "./errors.js";
import type { Explainer } from "./explain.js";
import { isAbortError } from "./signals.js";
import type { ChatCallOptions, RoutedChatRequest } from "./upstream.js";
import type { Route, Ways } from "./ways.js";

/** A model name is refused by the routing rules before anything is sent. */
export class RoutingError extends UpstreamError {
  override name = "RoutingError";
}

/** What routing a chat reads: the mode and models, the ways in, and what exists. */
export interface ChatRouting {
  config: ServerConfig;
  ways: Ways;
  catalog: Catalog;
  explain: Explainer;
}

/** A chat, on the server the mode and the model name choose; the route says where it ran. */
export async function routeChat(
  routing: ChatRouting,
  request: RoutedChatRequest,
  options: ChatCallOptions,
): Promise<ChatReply & { route: Route }> {
  const { config, ways } = routing;
  const model = modelToRun(config, request.model);
  if (config.mode === "cloud") {
    return { ...(await chatOnCloud(routing, model, request, options)), route: ways.cloudRoute };
  }
  if (config.mode === "local") {
    // A cloud suffix means the model ran in the cloud, through the local Ollama.
    const name = ways.localModeName(model);
    const route: Route =
      model.placement === "cloud" ? { ran_on: "cloud", via: "local" } : { ran_on: "local" };
    return { ...(await chatOnLocal(routing, name, request, options)), route };
  }
  return chatHybrid(routing, model, request, options);
}

/** The model a call runs on; one this mode can never run is refused before anything is sent. */
export function modelToRun(config: ServerConfig, requested: ModelRef | undefined): ModelRef {
  const model = requested ?? defaultModel(config);
  if (config.mode === "cloud" && model.placement === "local") {
    throw new RoutingError(
      `Model "${model.input}" names a model on a local Ollama (":local"), but this server runs in cloud mode. Drop the suffix, or set OLLAMA_MODE=hybrid (or local) to use your Ollama.`,
    );
  }
  return model;
}

function chatOnCloud(
  { ways, catalog, explain }: ChatRouting,
  model: ModelRef,
  request: RoutedChatRequest,
  options: ChatCallOptions,
): Promise<ChatReply> {
  const name = ways.cloudName(model);
  return explain.chat(
    () => ways.toCloud(() => ways.cloud.chat({ ...request, model: name }, options)),
    { model: model.base, service: CLOUD, available: () => catalog.cloudModels(options) },
    options,
  );
}

function chatOnLocal(
  { ways, catalog, explain }: ChatRouting,
  name: string,
  request: RoutedChatRequest,
  options: ChatCallOptions,
): Promise<ChatReply> {
  return explain.chat(
    () => ways.local.chat({ ...request, model: name }, options),
    {
      model: name,
      service: ways.localService,
      available: async () => (await catalog.localTags(options)).filter((m) => !m.remote_host),
    },
    options,
  );
}

/** Hybrid: local when the local Ollama has the model, the cloud when only it does, else fallback. */
async function chatHybrid(
  routing: ChatRouting,
  model: ModelRef,
  request: RoutedChatRequest,
  options: ChatCallOptions,
): Promise<ChatReply & { route: Route }> {
  const { config, ways, catalog } = routing;
  const { localService, cloudRoute } = ways;
  if (model.placement === "cloud") {
    return { ...(await chatOnCloud(routing, model, request, options)), route: cloudRoute };
  }
  if (model.placement === "local") {
    const reply = await chatOnLocal(routing, model.base, request, options);
    return { ...reply, route: { ran_on: "local" } };
  }
  let reason: string;
  let localHasIt = false;
  try {
    localHasIt = hasModel(await catalog.localTags(options), model.base);
    reason = `${localService.name} does not have ${model.base}`;
  } catch (error) {
    if (isAbortError(error)) throw error;
    reason = `${localService.name} could not be reached (${describe(error)})`;
  }
  if (localHasIt) {
    let received = 0;
    try {
      const reply = await chatOnLocal(routing, model.base, request, {
        ...options,
        onProgress: (progress) => {
          received = progress.receivedChars;
          options.onProgress?.(progress);
        },
      });
      return { ...reply, route: { ran_on: "local" } };
    } catch (error) {
      // Only a call that never started answering may move; a started answer is not redone.
      if (received > 0 || !canFallBack(error)) throw error;
      reason = `${localService.name} failed: ${describe(error)}`;
    }
  } else {
    const cloud = await catalog.cloudModels(options).catch(() => [] as ListedModel[]);
    if (hasModel(cloud, model.base)) {
      return { ...(await chatOnCloud(routing, model, request, options)), route: cloudRoute };
    }
  }
  if (!config.cloudFallback) {
    throw new RoutingError(
      `${capitalize(reason)}, and fallback to the cloud is off (OLLAMA_CLOUD_FALLBACK=false), so the call stays on this machine. Pull the model with \`ollama pull ${model.base}\` or pick another.`,
    );
  }
  const reply = await chatOnCloud(routing, parseModelRef(config.defaultModel), request, options);
  return { ...reply, route: { ...cloudRoute, fallback: { from: model.input, reason } } };
}

/** The model a call without one uses. */
export function defaultModel(
  config: Pick<ServerConfig, "mode" | "localModel" | "defaultModel">,
): ModelRef {
  if (config.mode === "local") {
    if (!config.localModel) {
      throw new RoutingError(
        "No model given, and OLLAMA_LOCAL_MODEL is not set. Pass model (list_models shows what your Ollama has), or set OLLAMA_LOCAL_MODEL.",
      );
    }
    return parseModelRef(config.localModel);
  }
  if (config.mode === "hybrid" && config.localModel) return parseModelRef(config.localModel);
  return parseModelRef(config.defaultModel);
}

/** Failures of the local server that the cloud can make up for: unreachable, 5xx, no such model. */
function canFallBack(error: unknown): boolean {
  if (error instanceof ModelNotFoundError || error instanceof UpstreamNetworkError) return true;
  return error instanceof UpstreamHttpError && (error.status ?? 0) >= 500;
}

function describe(error: unknown): string {
  if (error instanceof UpstreamNetworkError) return error.detail;
  if (error instanceof UpstreamError && error.status) return `HTTP ${error.status}`;
  return error instanceof Error ? error.name : "error";
}
