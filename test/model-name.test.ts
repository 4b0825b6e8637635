import { describe, expect, it } from "vitest";
import { ModelNameError, parseModelRef } from "../src/model-name.js";

describe("parseModelRef (Ollama's modelref grammar)", () => {
  it.each([
    ["gpt-oss:120b", "gpt-oss:120b", "unspecified"],
    ["gpt-oss:120b-cloud", "gpt-oss:120b", "cloud"],
    ["gpt-oss:20b:cloud", "gpt-oss:20b", "cloud"],
    ["glm-4.6:cloud", "glm-4.6", "cloud"],
    ["qwen3:8b:local", "qwen3:8b", "local"],
    ["  gpt-oss:120b-CLOUD  ", "gpt-oss:120b", "cloud"],
    ["gpt-oss:20b:Cloud", "gpt-oss:20b", "cloud"],
    ["qwen3:8b:LOCAL", "qwen3:8b", "local"],
    ["my-cloud-model", "my-cloud-model", "unspecified"],
    ["my-cloud", "my-cloud", "unspecified"],
    ["library/gpt-oss:120b", "library/gpt-oss:120b", "unspecified"],
    ["hf.co/user/model:Q4_K_M", "hf.co/user/model:Q4_K_M", "unspecified"],
  ])("%j -> base %j, %s", (input, base, placement) => {
    expect(parseModelRef(input)).toEqual({ input: input.trim(), base, placement });
  });

  it.each([
    "gpt-oss:20b:local:cloud",
    "gpt-oss:20b:cloud:local",
    "x:cloud:cloud",
    "x:20b-cloud:local",
  ])("%j names both places (or one twice) and is refused", (input) => {
    expect(() => parseModelRef(input)).toThrow(/use either ":local" or ":cloud", not both/);
  });

  it.each(["", "   ", ":cloud", "gpt oss:120b", "gpt-oss:", "a:b:c"])(
    "%j is not a model name",
    (input) => {
      expect(() => parseModelRef(input)).toThrow(ModelNameError);
    },
  );
});
