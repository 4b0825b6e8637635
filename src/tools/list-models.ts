import * as z from "zod";
import type { ListedModel } from "../upstream/upstream.js";
import { defineTool, READ_ONLY_OPEN_WORLD } from "./define-tool.js";
import { strictArguments } from "./fields.js";

const modelSchema = z.object({
  name: z
    .string()
    .describe('Pass this as `model` to cloud_chat (the "-cloud" suffix is optional).'),
  where: z
    .enum(["cloud", "local"])
    .describe(
      "cloud: runs on Ollama's cloud (directly or through your Ollama); local: on your Ollama.",
    ),
  capabilities: z
    .array(z.string())
    .optional()
    .describe(
      'What it can do, as Ollama reports it: "vision" takes images, "thinking" takes think, "tools" calls tools.',
    ),
  family: z.string().optional(),
  parameter_size: z.string().optional(),
  quantization_level: z.string().optional(),
  size_bytes: z.number().optional(),
  modified_at: z.string().optional(),
});

export const listModels = defineTool({
  name: "list_models",
  settings: [],
  summary: "the models available right now, where each runs, and what each can do.",
  title: "List Ollama cloud models",
  description:
    "List the models available right now, with what each can do (vision for images, thinking, tools), family and size: Ollama's cloud models (the list changes as models are added and retired) and, in local or hybrid mode, the models on your own Ollama, each marked by where it runs. Use it to pick a `model` for cloud_chat or search_and_summarize.",
  inputSchema: strictArguments({}, "list_models"),
  outputSchema: z.object({ models: z.array(modelSchema) }),
  annotations: { ...READ_ONLY_OPEN_WORLD, idempotentHint: true },
  async handle(_input, { client, call }) {
    const models = (await client.listModels(call, { capabilities: true })).map(describeModel);
    const lines = models.map((m) => {
      const facts = [m.family, m.parameter_size].filter(Boolean).join(", ");
      const can = m.capabilities?.length ? `: ${m.capabilities.join(", ")}` : "";
      return `- ${m.name} [${m.where}]${facts ? ` (${facts})` : ""}${can}`;
    });
    return {
      structured: { models },
      text: models.length
        ? `${models.length} models:\n${lines.join("\n")}`
        : "No models are available right now.",
    };
  },
});

function describeModel(model: ListedModel): z.infer<typeof modelSchema> {
  const text = (value: unknown) => (typeof value === "string" && value ? value : undefined);
  const details = model.details ?? {};
  const described = {
    name: model.name,
    where: model.where,
    // "completion" is every chat model's; what sets one apart is the rest.
    capabilities: model.capabilities?.filter((capability) => capability !== "completion"),
    family: text(details.family),
    parameter_size: text(details.parameter_size),
    quantization_level: text(details.quantization_level),
    size_bytes: model.size,
    modified_at: model.modified_at,
  };
  return Object.fromEntries(
    Object.entries(described).filter(([, value]) => value !== undefined),
  ) as z.infer<typeof modelSchema>;
}
