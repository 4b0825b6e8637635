import * as z from "zod";
import type { ChatMessage, ChatReply, Route } from "../upstream/upstream.js";
import { defineTool, READ_ONLY_OPEN_WORLD } from "./define-tool.js";
import {
  anyJsonValue,
  deferrable,
  modelField,
  routeSchema,
  strictArguments,
  thinkField,
} from "./fields.js";

const messageSchema = z.strictObject({
  role: z.enum(["system", "user", "assistant", "tool"], {
    error: 'role must be "system", "user", "assistant" or "tool"',
  }),
  content: z.string({ error: "content must be a string" }),
  tool_name: z.string().optional().describe("For role tool: the tool whose result this is."),
});

const optionsSchema = strictArguments(
  {
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(1).optional(),
    min_p: z.number().min(0).max(1).optional(),
    typical_p: z.number().min(0).max(1).optional(),
    seed: z.number().int().optional(),
    num_predict: z.number().int().min(-2).optional(),
    stop: z.array(z.string()).max(16).optional(),
    repeat_penalty: z.number().optional(),
    repeat_last_n: z.number().int().min(-1).optional(),
    presence_penalty: z.number().optional(),
    frequency_penalty: z.number().optional(),
    num_ctx: z.number().int().min(1).optional(),
  },
  "options",
).describe(
  "Sampling options passed to the model: temperature, top_p, top_k, min_p, typical_p, seed, num_predict (max output tokens), stop, repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty, num_ctx.",
);

const inputSchema = strictArguments(
  {
    prompt: z
      .string({ error: "prompt must be a string" })
      .min(1, { error: "prompt must not be empty" })
      .optional()
      .describe("A single user message. Use this or messages, not both."),
    system: z
      .string({ error: "system must be a string" })
      .optional()
      .describe("Optional system instructions that frame the conversation."),
    messages: z
      .array(messageSchema)
      .min(1, { error: "messages must hold at least one message" })
      .optional()
      .describe("A whole conversation, oldest first. Use this or prompt, not both."),
    model: modelField.optional(),
    think: thinkField.optional(),
    format: z
      .union([z.literal("json"), z.record(z.string(), anyJsonValue)], {
        error: 'format must be "json" or a JSON schema object',
      })
      .optional()
      .describe('Ask for JSON output: "json", or a JSON schema the answer must follow.'),
    options: optionsSchema.optional(),
  },
  "cloud_chat",
).superRefine((input, context) => {
  if ((input.prompt === undefined) === (input.messages === undefined)) {
    context.addIssue({
      code: "custom",
      path: ["prompt"],
      message: "give exactly one of prompt (a string) or messages (a list of messages)",
    });
  }
});

const usageSchema = z.object({
  prompt_tokens: z.number().describe("Tokens in the prompt."),
  output_tokens: z.number().describe("Tokens the model generated."),
  total_ms: z.number(),
  load_ms: z.number(),
  prompt_ms: z.number(),
  generation_ms: z.number(),
  done_reason: z.string().describe('Why generation stopped: "stop", "length", ...'),
});

const outputSchema = deferrable(
  z.object({
    model: z.string(),
    answer: z.string(),
    thinking: z.string().optional().describe("The model's reasoning, when think was requested."),
    json: anyJsonValue.optional().describe("The answer parsed as JSON, when format was given."),
    usage: usageSchema,
    route: routeSchema,
    warnings: z.array(z.string()).optional(),
  }),
);

export const cloudChat = defineTool({
  name: "cloud_chat",
  title: "Chat with an Ollama cloud model",
  description:
    "Send a prompt or a conversation to a large open-weight model on Ollama's cloud GPUs (for example gpt-oss:120b; list_models shows the models available now, as the list changes) and get its answer; in local or hybrid mode, also to models on the user's own Ollama. Use it for a second opinion, for tasks that need a bigger model, or for JSON output with format. Returns the answer, optional thinking, the model used, where it ran and token usage.",
  inputSchema,
  outputSchema,
  annotations: READ_ONLY_OPEN_WORLD,
  long: true,
  async handle(input, { client, call, progress, logFields }) {
    const warnings: string[] = [];
    const messages = withFormatInstruction(buildMessages(input), input.format);
    const reply = await client.chat(
      {
        model: input.model,
        messages,
        think: input.think,
        format: input.format,
        options: input.options,
      },
      {
        ...call,
        onProgress: ({ receivedChars }) =>
          progress.report(receivedChars, `received ${receivedChars} characters`),
      },
    );
    if (input.options?.num_ctx !== undefined && reply.route.ran_on === "cloud") {
      warnings.push("options.num_ctx is ignored by Ollama's cloud; models use their full context.");
    }
    logFields.model = reply.model;
    logFields.ran_on = reply.route.ran_on;
    progress.report(reply.content.length + reply.thinking.length, "done", { force: true });
    const json = input.format === undefined ? undefined : parseJsonAnswer(reply.content);
    if (input.format !== undefined && json === undefined) {
      warnings.push("format: the model's answer is not valid JSON.");
    }
    const wantsThinking = input.think !== undefined && input.think !== false;
    return {
      structured: {
        model: reply.model,
        answer: reply.content,
        ...(wantsThinking && reply.thinking && { thinking: reply.thinking }),
        ...(json !== undefined && { json: json.value }),
        usage: { ...reply.usage, done_reason: reply.done_reason },
        route: reply.route,
        ...(warnings.length > 0 && { warnings }),
      },
      text: renderText(reply, wantsThinking, warnings),
    };
  },
});

function buildMessages(input: z.output<typeof inputSchema>): ChatMessage[] {
  const system: ChatMessage[] = input.system ? [{ role: "system", content: input.system }] : [];
  if (input.prompt !== undefined) return [...system, { role: "user", content: input.prompt }];
  // The schema guarantees messages when there is no prompt.
  return [...system, ...(input.messages ?? [])];
}

/** The cloud ignores `format`, so the request also says in words what shape to answer in. */
function withFormatInstruction(
  messages: ChatMessage[],
  format: "json" | Record<string, unknown> | undefined,
): ChatMessage[] {
  if (format === undefined) return messages;
  const instruction =
    format === "json"
      ? "Answer with a single valid JSON value only: no prose, no code fences."
      : `Answer with a single valid JSON value only (no prose, no code fences) that conforms to this JSON Schema:\n${JSON.stringify(format)}`;
  const [first, ...rest] = messages;
  if (first?.role === "system") {
    return [{ ...first, content: `${first.content}\n\n${instruction}` }, ...rest];
  }
  return [{ role: "system", content: instruction }, ...messages];
}

export function parseJsonAnswer(answer: string): { value: unknown } | undefined {
  const unfenced = answer
    .trim()
    .replace(/^```(?:json)?\s*\n?/i, "")
    .replace(/\n?```$/, "")
    .trim();
  try {
    return { value: JSON.parse(unfenced) };
  } catch {
    return undefined;
  }
}

function renderText(
  reply: ChatReply & { route: Route },
  wantsThinking: boolean,
  warnings: string[],
): string {
  const parts: string[] = [];
  if (wantsThinking && reply.thinking) parts.push(`Thinking:\n${reply.thinking.trim()}`, "Answer:");
  parts.push(reply.content);
  const { usage } = reply;
  parts.push(
    `— ${reply.model} on ${where(reply.route)} · ${usage.prompt_tokens} prompt + ${usage.output_tokens} output tokens · ${Math.round(usage.total_ms)} ms · ${reply.done_reason}`,
  );
  if (reply.route.fallback) {
    parts.push(
      `Note: ran on the cloud instead of ${reply.route.fallback.from}: ${reply.route.fallback.reason}.`,
    );
  }
  for (const warning of warnings) parts.push(`Warning: ${warning}`);
  return parts.join("\n\n");
}

export function where(route: Route): string {
  if (route.ran_on === "local") return "your local Ollama";
  return route.via === "local" ? "Ollama's cloud (through your Ollama)" : "Ollama's cloud";
}
