import * as z from "zod";
import { ModelNameError, type ModelRef, parseModelRef } from "../model-name.js";
import { randomIdPattern } from "../random-id.js";

export const MAX_SEARCH_RESULTS = 10;

/** An object schema that rejects unknown keys with a message listing the ones it takes. */
export function strictArguments<Shape extends z.ZodRawShape>(shape: Shape, what: string) {
  const allowed = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `${what} does not take ${issue.keys.map((k) => `"${k}"`).join(", ")}; it takes: ${allowed}`
        : undefined,
  });
}

/** A whole number within bounds; every way of missing them gets the same message. */
export function integerField(name: string, min: number, max: number) {
  const error = `${name} must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** Trimmed text that must not be empty nor longer than `maxChars`. */
export function textField(name: string, maxChars: number) {
  return z
    .string({ error: `${name} must be a string` })
    .trim()
    .min(1, { error: `${name} must not be empty` })
    .max(maxChars, { error: `${name} must be at most ${maxChars} characters` });
}

export const queryField = textField("query", 2_000).describe(
  "What to search the web for, in natural language or keywords.",
);

export const maxResultsField = integerField("max_results", 1, MAX_SEARCH_RESULTS)
  .default(5)
  .describe("How many results to return, 1-10 (default 5).");

export const urlField = z
  .string({ error: "url must be a string" })
  .trim()
  .max(4_096, { error: "url must be at most 4096 characters" })
  .refine(isHttpUrl, { error: "url must be an absolute http:// or https:// URL" })
  .describe("The page to fetch: an absolute http:// or https:// URL.");

export function isHttpUrl(value: string): boolean {
  try {
    const { protocol, hostname } = new URL(value);
    return (protocol === "http:" || protocol === "https:") && hostname.length > 0;
  } catch {
    return false;
  }
}

/** A model name in Ollama's grammar, parsed; `gpt-oss:120b-cloud` and `gpt-oss:120b` both work. */
export const modelField = z
  .string({ error: "model must be a string such as gpt-oss:120b" })
  .transform((value, context): ModelRef => {
    try {
      return parseModelRef(value);
    } catch (error) {
      if (!(error instanceof ModelNameError)) throw error;
      context.addIssue({ code: "custom", message: `model ${error.message}` });
      return z.NEVER;
    }
  })
  .describe(
    'Cloud model name, e.g. "gpt-oss:120b" (the CLI spelling "gpt-oss:120b-cloud" also works). Defaults to the server\'s configured model; list_models shows what is available.',
  );

export const thinkField = z
  .union([z.boolean(), z.enum(["low", "medium", "high", "max"])], {
    error: 'think must be true, false, "low", "medium", "high" or "max"',
  })
  .describe(
    'Ask a thinking model to reason first: true/false, or "low", "medium", "high" or "max" (the most) for models that take a level.',
  );

export const routeSchema = z
  .object({
    ran_on: z.enum(["cloud", "local"]),
    via: z
      .enum(["direct", "local"])
      .optional()
      .describe("For the cloud: straight to ollama.com, or through your local Ollama."),
    fallback: z
      .object({ from: z.string(), reason: z.string() })
      .optional()
      .describe(
        "Set when the local Ollama could not serve the call and it ran on the cloud model.",
      ),
  })
  .describe("Where the call ran.");

/** Token and call counts of a tool that makes several upstream calls. */
export const multiCallUsageSchema = z.object({
  prompt_tokens: z.number(),
  output_tokens: z.number(),
  model_calls: z.number().int(),
  searches: z.number().int(),
  page_fetches: z.number().int(),
});

export type MultiCallUsage = z.infer<typeof multiCallUsageSchema>;

/**
 * A long tool's output: the finished result, or (status "running") a handle to it. Both shapes
 * must validate, so the finished fields are optional here; a finished result always has them.
 */
export function deferrable<Shape extends z.ZodRawShape>(done: z.ZodObject<Shape>) {
  return done.partial().extend({
    status: z
      .enum(["running", "done"])
      .describe(
        '"done": the other fields hold the result. "running": the call outlasted the client\'s patience and goes on; pass job_id to get_result.',
      ),
    job_id: z
      .string()
      .optional()
      .describe("The handle of a call still running (or of a job whose result this is)."),
    progress: jobProgressSchema
      .optional()
      .describe("While running: the time so far and the last step."),
  });
}

export const jobProgressSchema = z.object({
  elapsed_ms: z.number(),
  message: z.string().optional(),
});

/** An id this server handed out, checked for its exact form before any store is asked. */
function handedOutId(field: string, prefix: string) {
  return z
    .string({ error: `${field} must be a string` })
    .trim()
    .min(1, { error: `${field} must not be empty` })
    .regex(randomIdPattern(prefix), {
      error: `${field} must be one this server returned: "${prefix}" and 24 letters, digits, "-" or "_"`,
    });
}

export const jobIdField = handedOutId("job_id", "job_").describe(
  "The job_id a deferred call returned.",
);

/**
 * Any JSON value, said explicitly: a schema node with no validation keyword at all reads as a
 * mistake to strict checkers, and so does a `type` array, which clients that map schemas onto a
 * single-`type` dialect (Gemini's function declarations) reject. So: one `anyOf` branch per type,
 * each titled, as zod would otherwise fold bare `{type}` branches back into a `type` array.
 */
export const anyJsonValue = z.unknown().meta({
  anyOf: ["object", "array", "string", "number", "boolean", "null"].map((type) => ({
    type,
    title: type,
  })),
});

export const conversationIdField = handedOutId("conversation_id", "conv_").describe(
  "Continue a conversation: the conversation_id an earlier cloud_chat returned. Its earlier turns are sent before this prompt or these messages; the model may change between turns.",
);

const messageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant", "tool"], {
    error: 'role must be "system", "user", "assistant" or "tool"',
  }),
  content: z.string({ error: "content must be a string" }),
  tool_name: z.string().optional().describe("For role tool: the tool whose result this is."),
});

export const promptField = z
  .string({ error: "prompt must be a string" })
  .min(1, { error: "prompt must not be empty" })
  .optional()
  .describe("A single user message. Use this or messages, not both.");

export const systemField = z
  .string({ error: "system must be a string" })
  .optional()
  .describe("Optional system instructions that frame the conversation.");

export const messagesField = z
  .array(messageSchema)
  .min(1, { error: "messages must hold at least one message" })
  .optional()
  .describe("A whole conversation, oldest first. Use this or prompt, not both.");

/** A chat input takes a prompt or messages: one of them, not both, not neither. */
export function exactlyOnePromptOrMessages(
  input: { prompt?: string | undefined; messages?: unknown[] | undefined },
  context: z.RefinementCtx,
): void {
  if ((input.prompt === undefined) === (input.messages === undefined)) {
    context.addIssue({
      code: "custom",
      path: ["prompt"],
      message: "give exactly one of prompt (a string) or messages (a list of messages)",
    });
  }
}
