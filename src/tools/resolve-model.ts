import { type ModelRef, parseModelRef } from "../model-name.js";
import { ToolInputError } from "./define-tool.js";

/** The model a cloud-bound call should use: the caller's choice, else the configured default. */
export function resolveCloudModel(requested: ModelRef | undefined, defaultModel: string): ModelRef {
  const model = requested ?? parseModelRef(defaultModel);
  if (model.placement === "local") {
    throw new ToolInputError(
      `model "${model.input}" names a model on a local Ollama (":local"), but this server talks to Ollama's cloud. Drop the ":local" suffix or pick a cloud model (see list_models).`,
    );
  }
  return model;
}
