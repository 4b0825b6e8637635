import * as z from "zod";
import type { Conversations, Turn } from "../conversations.js";
import { describeDuration } from "../duration.js";
import type { ModelRef } from "../model-name.js";
import { StoreUnavailableError } from "../store/store.js";
import { UpstreamHttpError } from "../upstream/errors.js";
import {
  type CallOptions,
  type ChatMessage,
  type ChatReply,
  defaultModel,
  type Route,
  type Upstream,
} from "../upstream/upstream.js";
import { defineTool, READ_ONLY_OPEN_WORLD, type ToolContext, ToolFailure } from "./define-tool.js";
import {
  anyJsonValue,
  conversationIdField,
  deferrable,
  exactlyOnePromptOrMessages,
  messagesField,
  modelField,
  promptField,
  routeSchema,
  strictArguments,
  systemField,
  thinkField,
} from "./fields.js";
import { MAX_IMAGES, readImages } from "./images.js";

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
    prompt: promptField,
    system: systemField,
    messages: messagesField,
    conversation_id: conversationIdField.optional(),
    images: z
      .array(z.string({ error: "each image must be a string" }), {
        error: "images must be a list of strings",
      })
      .min(1, { error: "images must hold at least one image" })
      .max(MAX_IMAGES, { error: `images may hold at most ${MAX_IMAGES} images` })
      .optional()
      .describe(
        `Up to ${MAX_IMAGES} images for a vision model, sent with the prompt (or the last user message): each a data:image/...;base64, URI, plain base64, or, when the server runs beside the client (stdio), an absolute file path. PNG, JPEG, WebP or GIF. URLs are not fetched.`,
      ),
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
).superRefine(exactlyOnePromptOrMessages);

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
    conversation_id: z
      .string()
      .optional()
      .describe(
        "Pass it back as conversation_id to continue this conversation (absent when the server keeps no conversations, or could not keep this exchange).",
      ),
    dropped_turns: z
      .number()
      .int()
      .optional()
      .describe("Oldest messages of the conversation dropped to keep it within its size limit."),
    warnings: z.array(z.string()).optional(),
  }),
);

/** The settings this tool reads. */
const READS = [
  "imageMaxBytes",
  "imagesMaxTotalBytes",
  "mode",
  "localModel",
  "defaultModel",
] as const;
type Context = ToolContext<(typeof READS)[number]>;

export const cloudChat = defineTool({
  name: "cloud_chat",
  settings: READS,
  summary:
    "ask a large open-weight model on Ollama's cloud GPUs (list_models shows which exist); a conversation continues by its conversation_id.",
  title: "Chat with an Ollama cloud model",
  description:
    "Send a prompt or a conversation to a large open-weight model on Ollama's cloud GPUs (for example gpt-oss:120b; list_models shows the models available now, as the list changes) and get its answer; in local or hybrid mode, also to models on the user's own Ollama. Every answer comes with a conversation_id: pass it back to continue the conversation without resending it. Give images to a vision model with images. Use it for a second opinion, for tasks that need a bigger model, or for JSON output with format. Returns the answer, optional thinking, the model used, where it ran and token usage.",
  inputSchema,
  outputSchema,
  annotations: READ_ONLY_OPEN_WORLD,
  long: true,
  async handle(input, context) {
    const { logFields, progress } = context;
    // Everything is checked before anything is sent: images, the conversation, the model's eyes.
    const request = await prepare(input, context);
    const reply = await ask(input, context, request);
    logFields.model = reply.model;
    logFields.ran_on = reply.route.ran_on;
    progress.report(reply.content.length + reply.thinking.length, "done", { force: true });
    const warnings: string[] = [];
    if (input.options?.num_ctx !== undefined && reply.route.ran_on === "cloud") {
      warnings.push("options.num_ctx is ignored by Ollama's cloud; models use their full context.");
    }
    const json = input.format === undefined ? undefined : parseJsonAnswer(reply.content);
    if (input.format !== undefined && json === undefined) {
      warnings.push("format: the model's answer is not valid JSON.");
    }
    const { conversationId, system, turns, images } = request;
    const kept = conversationId
      ? await keepExchange(context, conversationId, input.conversation_id !== undefined, system, [
          ...noteImages(turns, images.length),
          { role: "assistant", content: reply.content },
        ])
      : { id: undefined, dropped: 0, warning: undefined };
    if (kept.warning) warnings.push(kept.warning);
    const wantsThinking = input.think !== undefined && input.think !== false;
    return {
      structured: {
        model: reply.model,
        answer: reply.content,
        ...(wantsThinking && reply.thinking && { thinking: reply.thinking }),
        ...(json !== undefined && { json: json.value }),
        usage: { ...reply.usage, done_reason: reply.done_reason },
        route: reply.route,
        ...(kept.id && { conversation_id: kept.id }),
        ...(kept.dropped > 0 && { dropped_turns: kept.dropped }),
        ...(warnings.length > 0 && { warnings }),
      },
      text: kept.id
        ? `${renderText(reply, wantsThinking, warnings)}\n\nconversation_id: ${kept.id} (pass it back to continue)`
        : renderText(reply, wantsThinking, warnings),
    };
  },
});

type Input = z.output<typeof inputSchema>;

/** A chat ready to send: its messages, and what the conversation keeps of it. */
interface Prepared {
  messages: ChatMessage[];
  conversationId: string | undefined;
  system: string | undefined;
  turns: Turn[];
  images: Awaited<ReturnType<typeof readImages>>;
}

/** The images read, the conversation loaded, the model checked for eyes: nothing sent yet. */
async function prepare(input: Input, context: Context): Promise<Prepared> {
  const { client, call, caller, conversations, config } = context;
  const images = input.images
    ? await readImages(input.images, {
        maxBytes: config.imageMaxBytes,
        maxTotalBytes: config.imagesMaxTotalBytes,
        allowFiles: context.transport === "stdio",
      })
    : [];
  const { system: givenSystem, turns } = newTurns(input);
  if (images.length > 0 && !turns.some((t) => t.role === "user")) {
    throw new ToolFailure(
      "images go with a user message: give a prompt, or messages that hold a user message.",
    );
  }
  const keeping = conversations.config.enabled;
  if (input.conversation_id !== undefined && !keeping) {
    throw new ToolFailure(
      "conversation_id cannot be used: this server keeps no conversations (OLLAMA_MCP_CONVERSATIONS=off). Send the earlier turns with messages instead.",
    );
  }
  let conversationId = input.conversation_id;
  let earlier: Turn[] = [];
  let storedSystem: string | undefined;
  if (conversationId === undefined) {
    conversationId = keeping ? conversations.newId() : undefined;
  } else {
    const stored = await conversations.load(caller.owner, conversationId);
    if (!stored) throw new ToolFailure(unknownConversation(conversationId, conversations.config));
    earlier = stored.turns;
    storedSystem = stored.system;
  }
  const system = givenSystem ?? storedSystem;
  if (images.length > 0) await checkCanSee(client, modelNamed(input.model, config), call);
  const messages = withFormatInstruction(
    [
      ...(system ? [{ role: "system" as const, content: system }] : []),
      ...earlier,
      ...withImages(turns, images),
    ],
    input.format,
  );
  return { messages, conversationId, system, turns, images };
}

/** The model's answer, with progress as it streams; a refusal of images says so. */
async function ask(
  input: Input,
  context: Context,
  { messages, images }: Prepared,
): Promise<ChatReply & { route: Route }> {
  const { client, call, progress } = context;
  try {
    return await client.chat(
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
  } catch (error) {
    throw images.length > 0
      ? await imageRefusal(error, client, modelNamed(input.model, context.config), call)
      : error;
  }
}

/** The system message and the turns this call adds to the conversation. */
function newTurns(input: z.output<typeof inputSchema>): {
  system: string | undefined;
  turns: Turn[];
} {
  if (input.prompt !== undefined) {
    return { system: input.system, turns: [{ role: "user", content: input.prompt }] };
  }
  // The schema guarantees messages when there is no prompt; a system message among them frames it.
  const messages = input.messages ?? [];
  const system = input.system ?? messages.find((m) => m.role === "system")?.content;
  const turns = messages.filter((m) => m.role !== "system") as Turn[];
  return { system, turns };
}

/** The images go with the last user message of the call. */
function withImages(turns: Turn[], images: Uint8Array[]): ChatMessage[] {
  if (images.length === 0) return turns;
  const last = turns.findLastIndex((t) => t.role === "user");
  return turns.map((turn, i) => (i === last ? { ...turn, images } : turn));
}

/** What the conversation keeps of a message that carried images: a note, not the bytes. */
function noteImages(turns: Turn[], count: number): Turn[] {
  if (count === 0) return turns;
  const last = turns.findLastIndex((t) => t.role === "user");
  const note = `\n\n[${count === 1 ? "An image was" : `${count} images were`} attached here; images are not kept in the conversation.]`;
  return turns.map((turn, i) =>
    i === last ? { ...turn, content: `${turn.content}${note}` } : turn,
  );
}

/**
 * Keeps this exchange in the conversation. The id comes back only when the conversation can go
 * on from this answer; otherwise a warning says why, and what the id (if any) still holds.
 */
async function keepExchange(
  { conversations, caller }: ToolContext,
  id: string,
  continuing: boolean,
  system: string | undefined,
  turns: Turn[],
): Promise<{ id: string | undefined; dropped: number; warning: string | undefined }> {
  const before = continuing
    ? ` conversation_id ${id} still holds the conversation as it was before this exchange.`
    : "";
  try {
    const appended = await conversations.append(caller.owner, id, { system, turns });
    if (appended.kind === "kept") {
      const { dropped } = appended;
      const warning =
        dropped > 0
          ? `the conversation's oldest ${dropped} messages were dropped to keep it within ${conversations.config.maxChars} characters (OLLAMA_MCP_CONVERSATION_MAX_CHARS).`
          : undefined;
      return { id, dropped, warning };
    }
    return {
      id: undefined,
      dropped: 0,
      warning: `this exchange is ${appended.chars} characters, more than a conversation may keep (${conversations.config.maxChars}, OLLAMA_MCP_CONVERSATION_MAX_CHARS), so it was not kept and the conversation cannot continue from this answer.${before} To go on, send what the model needs to know again, in a new call.`,
    };
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) throw error;
    return {
      id: undefined,
      dropped: 0,
      warning: `this exchange could not be added to the conversation, so it cannot continue from this answer: ${error.message}${before}`,
    };
  }
}

function unknownConversation(id: string, config: Conversations["config"]): string {
  return `Unknown conversation_id "${id}": a conversation is kept ${describeDuration(config.idleMs)} after its last turn (OLLAMA_MCP_CONVERSATION_IDLE_MS), for the client that started it, and each client keeps its ${config.maxPerCaller} most recently used (OLLAMA_MCP_MAX_CONVERSATIONS_PER_CALLER). Start a new conversation: call cloud_chat without conversation_id, with the context it needs.`;
}

/** The model a call would run on, as a message names it: the default one by its name. */
function modelNamed(model: ModelRef | undefined, config: Context["config"]): Named {
  if (model) return { model, label: `Model "${model.input}"` };
  return { model, label: `The default model, ${defaultModel(config).input},` };
}

interface Named {
  model: ModelRef | undefined;
  label: string;
}

/** Refuses images for a model that says it cannot see, naming models that can. */
async function checkCanSee(client: Upstream, named: Named, call: CallOptions): Promise<void> {
  const capabilities = await client.capabilities(named.model, call);
  if (!capabilities || capabilities.includes("vision")) return;
  throw new ToolFailure(
    await cannotSee(client, named, call, "it does not list vision among its capabilities"),
  );
}

async function cannotSee(
  client: Upstream,
  named: Named,
  call: CallOptions,
  why: string,
): Promise<string> {
  const seeing = await client.modelsWith("vision", call).catch(() => [] as string[]);
  const which = seeing.length
    ? `Models on Ollama's cloud that can: ${seeing.join(", ")}.`
    : 'Pick a model whose capabilities include "vision" in list_models.';
  return `${named.label} cannot take images: ${why}. ${which}`;
}

/** The upstream's own refusal of images, said so that the caller knows what to change. */
async function imageRefusal(
  error: unknown,
  client: Upstream,
  named: Named,
  call: CallOptions,
): Promise<unknown> {
  if (
    !(error instanceof UpstreamHttpError) ||
    error.status !== 400 ||
    !/image|vision|multimodal/i.test(error.message)
  ) {
    return error;
  }
  return new ToolFailure(
    await cannotSee(client, named, call, `the service said "${error.message}"`),
  );
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
