import { z } from "zod";
import {
  EVENT_ID_PATTERN,
  MAX_EVENT_ID_LENGTH,
  MAX_EVENT_TS,
  MAX_NAME_LENGTH,
  subjectProblem,
} from "../limits.ts";
import { Subjects } from "../names.ts";
import { IncomingEventMetaSchema, StoredEventMetaSchema } from "../sessions.ts";

const plainObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  { message: "must be an object" },
);

/**
 * An event name (sent, or a trigger's): 1–256 characters once trimmed, whose subject `evt.<name>`
 * fits MAX_SUBJECT_BYTES.
 */
export const EventNameSchema = z
  .string({ error: "is required and must be a string" })
  .trim()
  .min(1, "must be a non-empty string")
  .max(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`)
  .superRefine((name, ctx) => {
    // Not aborted by `max` (a trigger's union would hide the reason), so skip what it reported.
    if (name.length > MAX_NAME_LENGTH) return;
    const problem = subjectProblem(Subjects.event(name));
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/**
 * Names of Jetstep's own events (`InternalEvents`: a run finished, failed, was invoked…). Clients
 * may trigger on them but never send them: a forged `inngest/function.finished` would hand an
 * invoking run a result no function returned.
 */
export const RESERVED_EVENT_PREFIX = "inngest/";

/** An event as a client sends it (`POST /e/:key`, `send()`); `id` and `ts` are optional. */
export const IncomingEventSchema = z.object({
  id: z
    .string({ error: "must be a string" })
    .min(1, { error: "must be a non-empty string", abort: true })
    .max(MAX_EVENT_ID_LENGTH, `must be at most ${MAX_EVENT_ID_LENGTH} characters`)
    .regex(EVENT_ID_PATTERN, "must be printable ASCII without spaces or control characters")
    .optional(),
  name: EventNameSchema.refine(
    (name) => !name.startsWith(RESERVED_EVENT_PREFIX),
    `is reserved: names starting with "${RESERVED_EVENT_PREFIX}" are Jetstep's own events`,
  ),
  data: plainObject.optional(),
  user: plainObject.optional(),
  /** Sessions (`meta.sessions`, `meta.propagated_sessions`): see sessions.ts. */
  meta: IncomingEventMetaSchema.optional(),
  ts: z
    .number({ error: "must be a number (ms since the epoch)" })
    .int("must be an integer (ms since the epoch)")
    .nonnegative("must be 0 or more (ms since the epoch)")
    .max(MAX_EVENT_TS, `must be at most ${MAX_EVENT_TS} (9999-12-31)`)
    .optional(),
  v: z.string({ error: "must be a string" }).optional(),
});
export type IncomingEvent = z.infer<typeof IncomingEventSchema>;

/** An event as stored in EVENTS: id, ts and data are always set. */
export const StoredEventSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  data: z.record(z.string(), z.unknown()),
  user: z.record(z.string(), z.unknown()).optional(),
  meta: StoredEventMetaSchema.optional(),
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
  /** A `defer()` of a run that ended: starts the deferred function (`data._inngest.fn_slug`). */
  deferredSchedule: "inngest/deferred.schedule",
} as const;
export type InternalEvents = (typeof InternalEvents)[keyof typeof InternalEvents];
