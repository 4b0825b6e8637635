import type { CallToolResult } from "@modelcontextprotocol/server";
import * as z from "zod";
import { readStored } from "../store/store.js";

/**
 * What a job leaves in the store, and the events it sends. Everything read back is parsed here:
 * a record another version wrote, or one damaged in the store, reads as no record at all.
 */

export const jobProgressSchema = z.object({
  progress: z.number(),
  total: z.number().optional(),
  message: z.string(),
});
export type JobProgress = z.infer<typeof jobProgressSchema>;

/** A tool's result as this server's tools make them: text parts, and structured content. */
const resultSchema = z.object({
  content: z.array(z.object({ type: z.literal("text"), text: z.string() })),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
  isError: z.boolean().optional(),
});

const jobRecordSchema = z.object({
  owner: z.string(),
  tool: z.string(),
  status: z.enum(["running", "done", "cancelled", "lost"]),
  startedAt: z.number(),
  progress: jobProgressSchema.optional(),
  /** The finished call's result, exactly as the tool would have returned it. */
  result: resultSchema.optional(),
});
/** Written with any result; read back, a result of any other shape is refused by the schema. */
export type JobRecord = Omit<z.infer<typeof jobRecordSchema>, "result"> & {
  result?: CallToolResult | undefined;
};

/** Kept after a result is gone, so its owner hears "expired" rather than "unknown". */
const seenSchema = z.object({ owner: z.string(), tool: z.string() });

const jobEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("progress"), progress: jobProgressSchema }),
  z.object({ type: z.literal("ended") }),
  z.object({ type: z.literal("cancel") }),
]);
export type JobEvent = z.infer<typeof jobEventSchema>;

/**
 * A running job's lease, renewed by the instance running it. "writing": the work has ended and
 * its result is on its way to the store (which could not take it yet).
 */
export type Lease = "running" | "writing";

export const jobKeys = {
  record: (id: string) => `ocm:job:${id}`,
  seen: (id: string) => `ocm:job:${id}:seen`,
  lease: (id: string) => `ocm:job:${id}:lease`,
  channel: (id: string) => `ocm:job:${id}`,
};

export const readRecord = (raw: string | undefined) => readStored(jobRecordSchema, raw);
export const readSeen = (raw: string | undefined) => readStored(seenSchema, raw);
export const readEvent = (raw: string) => readStored(jobEventSchema, raw);
