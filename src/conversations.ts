import { randomId } from "./random-id.js";
import type { Store } from "./store/store.js";

/** One stored message of a conversation. Images are not kept: only a note that there were some. */
export interface Turn {
  role: "user" | "assistant" | "tool";
  content: string;
  tool_name?: string | undefined;
}

interface ConversationRecord {
  owner: string;
  system?: string | undefined;
  turns: Turn[];
}

export interface ConversationsConfig {
  /** A conversation with no new turn for this long is forgotten. */
  idleMs: number;
  /** Characters of turns kept; the oldest go first past it. */
  maxChars: number;
}

const key = (id: string) => `ocm:conv:${id}`;

/**
 * cloud_chat conversations that continue by id: the earlier turns are kept in the store (the one
 * jobs use) for their owner only, bounded in size and forgotten after an idle time.
 */
export class Conversations {
  constructor(
    private readonly store: Store,
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
    const raw = await this.store.get(key(id));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as ConversationRecord;
    return record.owner === owner ? { system: record.system, turns: record.turns } : undefined;
  }

  /**
   * Adds the turns of one call and keeps the newest that fit. Turns another call added in the
   * meantime are kept: the record is read again just before it is written.
   */
  async append(
    owner: string,
    id: string,
    update: { system: string | undefined; turns: Turn[] },
  ): Promise<{ kept: number; dropped: number }> {
    const current = await this.load(owner, id);
    const turns = [...(current?.turns ?? []), ...update.turns];
    const kept = trim(turns, this.config.maxChars);
    const record: ConversationRecord = { owner, system: update.system, turns: kept };
    await this.store.set(key(id), JSON.stringify(record), this.config.idleMs);
    return { kept: kept.length, dropped: turns.length - kept.length };
  }
}

/**
 * The newest turns within `maxChars`, starting at a user turn. The last exchange is kept even
 * when it alone is larger: a conversation is never left empty.
 */
function trim(turns: Turn[], maxChars: number): Turn[] {
  let size = turns.reduce((n, t) => n + t.content.length, 0);
  let start = 0;
  const lastUser = turns.findLastIndex((t) => t.role === "user");
  while (size > maxChars && start < lastUser) {
    size -= (turns[start] as Turn).content.length;
    start++;
  }
  while (start < lastUser && turns[start]?.role !== "user") start++;
  return turns.slice(start);
}

export function conversationsConfig(config: {
  conversationIdleMs: number;
  conversationMaxChars: number;
}): ConversationsConfig {
  return { idleMs: config.conversationIdleMs, maxChars: config.conversationMaxChars };
}
