/**
 * Ollama's published list of retired cloud models, and the replacement it recommends for each.
 * Data, not a list of what exists: list_models (GET /api/tags) says that. It only tells a call
 * that names a model the cloud does not have why, and what to use instead.
 *
 * Read on 2026-11-30 from https://docs.ollama.com/cloud/model-lifecycle
 * (docs/cloud/model-lifecycle.mdx in ollama/ollama, commit 1f51984d); no retirement was
 * scheduled then.
 */
export const RETIRED_MODELS_SOURCE = "https://docs.ollama.com/cloud/model-lifecycle";

export interface Retirement {
  model: string;
  date: string;
  /** Absent where Ollama names none. */
  replacement?: string;
}

const RETIRED: Record<string, [model: string, replacement?: string][]> = {
  "2026-09-25": [
    ["qwen3.5:397b", "glm-5.3"],
    ["glm-5.1", "glm-5.2"],
    ["deepseek-v4-flash:0731", "deepseek-v4.1-flash"],
  ],
  "2026-07-31": [
    ["minimax-m2.5", "minimax-m2.7"],
    ["kimi-k2.5", "kimi-k2.6"],
  ],
  "2026-07-15": [
    ["deepseek-v3.1:671b", "deepseek-v4-flash"],
    ["deepseek-v3.2", "deepseek-v4-flash"],
    ["devstral-2:123b", "mistral-large-3:675b"],
    ["devstral-small-2:24b"],
    ["ministral-3:14b"],
    ["ministral-3:3b"],
    ["ministral-3:8b"],
    ["gemini-3-flash-preview", "minimax-m3"],
    ["gemma3:12b", "gemma4:31b"],
    ["gemma3:27b", "gemma4:31b"],
    ["gemma3:4b", "gemma4:31b"],
    ["glm-4.7", "glm-5.2"],
    ["glm-5", "glm-5.2"],
    ["minimax-m2.1", "minimax-m3"],
    ["qwen3-coder-next", "qwen3.5:397b"],
    ["qwen3-coder:480b", "qwen3.5:397b"],
  ],
  "2026-06-30": [["rnj-1:8b"]],
  "2026-06-16": [
    ["kimi-k2-thinking", "kimi-k2.6"],
    ["kimi-k2:1t", "kimi-k2.6"],
    ["minimax-m2", "minimax-m3"],
    ["glm-4.6", "glm-5.1"],
    ["qwen3-next:80b", "qwen3.5"],
    ["qwen3-vl:235b", "qwen3.5"],
    ["qwen3-vl:235b-instruct", "qwen3.5"],
    ["cogito-2.1:671b", "deepseek-v4-flash"],
  ],
};

export const RETIREMENTS: readonly Retirement[] = Object.entries(RETIRED).flatMap(
  ([date, models]) =>
    models.map(([model, replacement]) => ({ model, date, ...(replacement && { replacement }) })),
);
