import { z } from "zod";
import { StoredEventSchema } from "./event.ts";
import { runSpecShape } from "./run-spec.ts";

/** Commands sent to a partition's INBOX subject; the partition owner applies them to runs. */
export const StartRunCommandSchema = z.object({
  type: z.literal("start"),
  ...runSpecShape,
  /** Rerun from a step: steps recorded as completed before the first call (memo seed). */
  seed: z
    .array(
      z.object({
        stepId: z.string(),
        name: z.string(),
        data: z.unknown(),
        /** A sleep or a wait: memoized as its own end was (the bare value, not `{data}`). */
        raw: z.boolean().optional(),
      }),
    )
    .optional(),
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
