import { z } from "zod";
import { TraceparentSchema } from "../trace.ts";
import { StoredEventSchema } from "./event.ts";

/**
 * A throttled run's limit, as the executor applies it when the run's first call goes out: GCRA over
 * the FLOW bucket's `key` (shared by all runs of the function and throttle key), so consecutive
 * starts are `periodMs / limit` apart (`burst` may start together), measured when they happen.
 */
export const ThrottleSpecSchema = z.object({
  key: z.string(),
  limit: z.number().int().positive(),
  periodMs: z.number().positive(),
  burst: z.number().int().positive().optional(),
  /**
   * The run waits in the THROTTLE queue of this key and starts only at its head, in arrival order
   * (absent on runs scheduled before the queue existed: those take the next due start).
   */
  queued: z.literal(true).optional(),
});
export type ThrottleSpec = z.infer<typeof ThrottleSpecSchema>;

/**
 * A durable endpoint's run (the official SDK v4's `inngest.endpoint`): it starts inside the app's
 * own HTTP request, which runs its steps and reports them (sync mode, no calls from Jetstep);
 * once the app switches it to async (a sleep, a wait, an error…), or nothing is heard from it for
 * `syncTimeoutMs`, the executor drives it by calling the endpoint again with the original request.
 */
export const EndpointSpecSchema = z.object({
  /** sha256 (hex) of the token that reads the run's output (`GET /v1/http/runs/:id/output`). */
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** Sync mode ends (the run goes async) after this long without a report from the app. */
  syncTimeoutMs: z.number().int().positive(),
});
export type EndpointSpec = z.infer<typeof EndpointSpecSchema>;

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
  eventSeq: z.number().int().nonnegative().optional(),
  compensateOnCancel: z.boolean().optional(),
  concurrency: z.array(z.object({ key: z.string(), limit: z.number().int().positive() })).optional(),
  /**
   * Throttle, as matchers before the THROTTLE queue scheduled it: the run may not start before
   * this time (ms). Kept so their start commands still apply; matchers no longer send it.
   */
  startAt: z.number().optional(),
  /** Throttle: the limit its first call is held to when it goes out. */
  throttle: ThrottleSpecSchema.optional(),
  /** Rerun from a step: steps recorded as completed before the first call (memo seed). */
  seed: z.array(z.object({ stepId: z.string(), name: z.string(), data: z.unknown() })).optional(),
  /** Priority in seconds (±600): under a backlog the run goes ahead of work queued up to this much earlier. */
  priority: z.number().optional(),
  /** W3C trace context the triggering event arrived with (header `traceparent`). */
  traceparent: TraceparentSchema.optional(),
  /** The function's `timeouts`, as registered (durations). */
  timeouts: z
    .object({
      start: z.union([z.string(), z.number()]).optional(),
      finish: z.union([z.string(), z.number()]).optional(),
    })
    .optional(),
  cancelOn: z
    .array(z.object({ event: z.string(), if: z.string().optional(), until: z.number().optional() }))
    .optional(),
  /** A durable endpoint's run (`url` is the endpoint's URL, the event `inngest/http.request`). */
  endpoint: EndpointSpecSchema.optional(),
});

/** A matching event for a run's open wait (first match wins; later ones are ignored). */
export const WaitMatchCommandSchema = z.object({
  type: z.literal("wait.match"),
  runId: z.string(),
  waitId: z.string(),
  event: StoredEventSchema,
});

export const CancelRunCommandSchema = z.object({
  type: z.literal("cancel"),
  runId: z.string(),
  reason: z.string(),
});

export const InboxCommandSchema = z.discriminatedUnion("type", [
  StartRunCommandSchema,
  CancelRunCommandSchema,
  WaitMatchCommandSchema,
]);
export type InboxCommand = z.infer<typeof InboxCommandSchema>;
export type StartRunCommand = z.infer<typeof StartRunCommandSchema>;
export type WaitMatchCommand = z.infer<typeof WaitMatchCommandSchema>;

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
  /** Functions the event triggered that started no run, and why (e.g. idempotency). */
  skipped: z.array(z.object({ fnId: z.string(), reason: z.string() })).optional(),
});
export type EventRuns = z.infer<typeof EventRunsSchema>;

/** An open wait as stored in the WAITS bucket (see `DueWait`); the matcher indexes these by event name. */
export const WaitRecordSchema = z.object({
  runId: z.string(),
  fnId: z.string(),
  partition: z.number().int().nonnegative(),
  waitId: z.string(),
  kind: z.enum(["step", "cancel"]),
  event: z.string(),
  if: z.string().optional(),
  afterSeq: z.number().int().nonnegative(),
  until: z.number().optional(),
  /** `step.invoke`: matched by the `correlation_id` of `inngest/function.finished`, not by CEL. */
  correlationId: z.string().optional(),
  /** The run's triggering event: the `event` variable of the expression. */
  trigger: StoredEventSchema,
});
export type WaitRecord = z.infer<typeof WaitRecordSchema>;

/** The ACTIVE bucket's value per non-terminal run. */
export const ActiveRunSchema = z.object({ fnId: z.string(), createdAt: z.number() });
export type ActiveRun = z.infer<typeof ActiveRunSchema>;

/** A RUN_INDEX record: the run's state when it started, got stuck or ended (the newest record wins). */
export const RunIndexRecordSchema = z.object({
  runId: z.string(),
  fnId: z.string(),
  appId: z.string(),
  status: z.string(),
  eventId: z.string().optional(),
  eventName: z.string().optional(),
  startedAt: z.number(),
  endedAt: z.number().optional(),
  /**
   * With status `Stuck`: why the executor cannot move the run on, since when, and the sequence of
   * the run's last log message then (a log that grew since means the run moved on after all).
   */
  stuck: z.object({ reason: z.string(), since: z.number(), logSeq: z.number().optional() }).optional(),
});
export type RunIndexRecord = z.infer<typeof RunIndexRecordSchema>;
