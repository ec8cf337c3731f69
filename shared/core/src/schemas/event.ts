import { z } from "zod";

/** Maximum size of one event's JSON, in bytes. */
export const MAX_EVENT_BYTES = 512 * 1024;
/** Maximum number of events in one ingest request. */
export const MAX_EVENTS_PER_REQUEST = 5000;

const plainObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  { message: "must be an object" },
);

/** An event as a client sends it (`POST /e/:key`, `send()`); `id` and `ts` are optional. */
export const IncomingEventSchema = z.object({
  id: z.string().min(1, "must be a non-empty string").max(256).optional(),
  name: z.string({ error: "is required and must be a string" }).trim().min(1, "must be a non-empty string"),
  data: plainObject.optional(),
  user: plainObject.optional(),
  ts: z.number().int().nonnegative().optional(),
  v: z.string().optional(),
});
export type IncomingEvent = z.infer<typeof IncomingEventSchema>;

/** An event as stored in EVENTS: id, ts and data are always set. */
export const StoredEventSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
  user: z.record(z.string(), z.unknown()).optional(),
  ts: z.number(),
  v: z.string().optional(),
});
export type StoredEvent = z.infer<typeof StoredEventSchema>;

/** Internal event names (Inngest's). */
export const InternalEvents = {
  functionFinished: "inngest/function.finished",
  functionFailed: "inngest/function.failed",
  functionCancelled: "inngest/function.cancelled",
  functionInvoked: "inngest/function.invoked",
  scheduledTimer: "inngest/scheduled.timer",
} as const;
export type InternalEvents = (typeof InternalEvents)[keyof typeof InternalEvents];
