import { z } from "zod";
import { StoredEventSchema } from "./event.ts";

/** Commands sent to a partition's INBOX subject; the partition owner applies them to runs. */
export const StartRunCommandSchema = z.object({
  type: z.literal("start"),
  runId: z.string(),
  fnId: z.string(),
  appId: z.string(),
  url: z.string(),
  maxAttempts: z.number().int().min(1).max(21),
  event: StoredEventSchema,
  events: z.array(StoredEventSchema),
});

export const CancelRunCommandSchema = z.object({
  type: z.literal("cancel"),
  runId: z.string(),
  reason: z.string(),
});

export const InboxCommandSchema = z.discriminatedUnion("type", [
  StartRunCommandSchema,
  CancelRunCommandSchema,
]);
export type InboxCommand = z.infer<typeof InboxCommandSchema>;
export type StartRunCommand = z.infer<typeof StartRunCommandSchema>;

/** A durable timer as stored in TIMERS. */
export const TimerRecordSchema = z.object({
  runId: z.string(),
  timerId: z.string(),
  partition: z.number().int().nonnegative(),
  fireAt: z.number(),
});
export type TimerRecord = z.infer<typeof TimerRecordSchema>;

/** What the event→runs index stores per event id. */
export const EventRunsSchema = z.object({
  eventId: z.string(),
  name: z.string(),
  runs: z.array(z.object({ runId: z.string(), fnId: z.string() })),
});
export type EventRuns = z.infer<typeof EventRunsSchema>;
