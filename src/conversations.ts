import * as z from "zod";
import type { Clock } from "./clock.js";
import { isRandomId, randomId } from "./random-id.js";
import { readStored, type Store } from "./store/store.js";

/** One stored message of a conversation. Images are not kept: only a note that there were some. */
export interface Turn {
  role: "user" | "assistant" | "tool";
  content: string;
  tool_name?: string | undefined;
}

const recordSchema = z.object({
  owner: z.string(),
  system: z.string().optional(),
  turns: z.array(
    z.object({
      role: z.enum(["user", "assistant", "tool"]),
      content: z.string(),
      tool_name: z.string().optional(),
    }),
  ),
});
type ConversationRecord = z.infer<typeof recordSchema>;

export interface ConversationsConfig {
  /** false: nothing is kept, and no conversation_id is handed out. */
  enabled: boolean;
  /** A conversation with no new turn for this long is forgotten. */
  idleMs: number;
  /** Characters of a stored conversation (system message and turns); the oldest turns go first. */
  maxChars: number;
  /** Conversations one caller keeps; the least recently used goes first. */
  maxPerCaller: number;
  /** Conversations kept for all callers together; the least recently used goes first. */
  maxTotal: number;
}

/** What became of a call's exchange. */
export type Appended =
  | { kind: "kept"; dropped: number }
  /** The exchange alone (with the system message) is larger than a conversation may be. */
  | { kind: "too-large"; chars: number };

const recordKey = (id: string) => `ocm:conv:${id}`;
/** Each caller's conversations by last use, and everyone's (as "<id> <owner>"). */
const callerSet = (owner: string) => `ocm:convs:${owner}`;
const ALL = "ocm:convs";

/**
 * cloud_chat conversations that continue by id: the system message and the turns are kept in the
 * store (the one jobs use: this process's memory, or Redis) for their owner only. Every record
 * stays within `maxChars`; a conversation is forgotten after `idleMs` without a turn, and past
 * the count limits (per caller, and in all) the least recently used is forgotten first.
 *
 * Two appends to one conversation at once each read it just before writing: the last write
 * wins, and the other's exchange is missing from it. Two calls that evict at once may forget
 * one conversation more than needed.
 */
export class Conversations {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    readonly config: ConversationsConfig,
  ) {}

  newId(): string {
    return randomId("conv_");
  }

  /** The conversation so far, or undefined when it is unknown, expired, or another caller's. */
  async load(
    owner: string,
    id: string,
  ): Promise<{ system?: string | undefined; turns: Turn[] } | undefined> {
    if (!isRandomId("conv_", id)) return undefined;
    const record = readStored(recordSchema, await this.store.get(recordKey(id)));
    return record?.owner === owner ? { system: record.system, turns: record.turns } : undefined;
  }

  /**
   * Adds the turns of one call and keeps the newest that fit. Turns another call added in the
   * meantime are kept: the record is read again just before it is written. An exchange that
   * cannot fit is not written at all: the conversation stays as it was.
   */
  async append(
    owner: string,
    id: string,
    update: { system: string | undefined; turns: Turn[] },
  ): Promise<Appended> {
    const current = await this.load(owner, id);
    const turns = [...(current?.turns ?? []), ...update.turns];
    const fitted = newestThatFit(turns, this.config.maxChars - (update.system?.length ?? 0));
    if (fitted.kind === "too-large") {
      return { kind: "too-large", chars: fitted.chars + (update.system?.length ?? 0) };
    }
    const record: ConversationRecord = { owner, system: update.system, turns: fitted.turns };
    await this.store.set(recordKey(id), JSON.stringify(record), this.config.idleMs);
    await this.keepWithinLimits(owner, id);
    return { kind: "kept", dropped: turns.length - fitted.turns.length };
  }

  /** Marks `id` as just used, then forgets the least recently used past either count limit. */
  private async keepWithinLimits(owner: string, id: string): Promise<void> {
    const { store, config } = this;
    const now = this.clock.now();
    const forgottenBefore = now - config.idleMs;
    await store.addToSet(callerSet(owner), id, now, config.idleMs);
    await store.addToSet(ALL, `${id} ${owner}`, now, config.idleMs);
    const mine = await store.trimSet(callerSet(owner), forgottenBefore);
    if (mine > config.maxPerCaller) {
      const oldest = await store.lowestInSet(callerSet(owner), mine - config.maxPerCaller);
      await this.forget(oldest.map((oldId) => ({ id: oldId, owner })));
    }
    const all = await store.trimSet(ALL, forgottenBefore);
    if (all > config.maxTotal) {
      const oldest = await store.lowestInSet(ALL, all - config.maxTotal);
      await this.forget(
        oldest.map((member) => {
          const [oldId = "", ...rest] = member.split(" ");
          return { id: oldId, owner: rest.join(" ") };
        }),
      );
    }
  }

  private async forget(conversations: { id: string; owner: string }[]): Promise<void> {
    for (const { id, owner } of conversations) {
      await this.store.delete(recordKey(id));
      await this.store.removeFromSet(callerSet(owner), [id]);
    }
    await this.store.removeFromSet(
      ALL,
      conversations.map(({ id, owner }) => `${id} ${owner}`),
    );
  }
}

/**
 * The newest turns within `budget` characters, starting at a user turn. The last exchange (from
 * the last user turn on) is never cut: when it alone is too large, nothing can be kept.
 */
function newestThatFit(
  turns: Turn[],
  budget: number,
): { kind: "fits"; turns: Turn[] } | { kind: "too-large"; chars: number } {
  let size = turns.reduce((n, t) => n + t.content.length, 0);
  let start = 0;
  const lastUser = Math.max(
    0,
    turns.findLastIndex((t) => t.role === "user"),
  );
  while (size > budget && start < lastUser) {
    size -= (turns[start] as Turn).content.length;
    start++;
  }
  if (size > budget) return { kind: "too-large", chars: size };
  while (start < lastUser && turns[start]?.role !== "user") start++;
  return { kind: "fits", turns: turns.slice(start) };
}

export function conversationsConfig(config: {
  conversations: boolean;
  conversationIdleMs: number;
  conversationMaxChars: number;
  maxConversationsPerCaller: number;
  maxConversations: number;
}): ConversationsConfig {
  return {
    enabled: config.conversations,
    idleMs: config.conversationIdleMs,
    maxChars: config.conversationMaxChars,
    maxPerCaller: config.maxConversationsPerCaller,
    maxTotal: config.maxConversations,
  };
}
