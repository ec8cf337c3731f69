import { z } from "zod";
import { StoredEventMetaSchema } from "../sessions.ts";
import { SerializedErrorSchema } from "./error.ts";
import { StoredEventSchema } from "./event.ts";
import { runSpecShape } from "./run-spec.ts";

/**
 * Entries of a run's log (one subject per run in RUNS). Every entry carries `n`, its 1-based
 * position in the run's log, so readers detect gaps and reordering, and `ts` (ms, from the
 * writer's injected clock).
 */
const base = { n: z.number().int().positive(), ts: z.number() };

/** The run's first entry: its spec (`run-spec.ts`), as the start command carried it, and its partition. */
export const RunScheduledSchema = z.object({
  ...base,
  type: z.literal("run.scheduled"),
  ...runSpecShape,
  partition: z.number().int().nonnegative(),
});

/** Several steps found at once (parallel): each is then called by its id. */
export const StepsPlannedSchema = z.object({
  ...base,
  type: z.literal("steps.planned"),
  steps: z.array(z.object({ stepId: z.string(), name: z.string() })).min(1),
});

export const StepCompletedSchema = z.object({
  ...base,
  type: z.literal("step.completed"),
  stepId: z.string(),
  name: z.string(),
  data: z.unknown(),
  attempt: z.number().int().nonnegative(),
  startedAt: z.number(),
  /** The step registered a saga compensation (`step.run(id, fn, { compensate })`). */
  compensable: z.boolean().optional(),
  /** A sleep or a wait a rerun seeded: memoized bare, as its own end was (see `memoRaw`). */
  raw: z.boolean().optional(),
});

/** A retriable failure. `stepId` is `$fn` for an error outside any step. A timer ends the backoff. */
export const StepErroredSchema = z.object({
  ...base,
  type: z.literal("step.errored"),
  stepId: z.string(),
  name: z.string(),
  error: SerializedErrorSchema,
  attempt: z.number().int().nonnegative(),
  startedAt: z.number(),
  retryAt: z.number(),
  timerId: z.string(),
});

/** A permanent step failure: memoized as `{error}` and thrown inside the handler. */
export const StepFailedSchema = z.object({
  ...base,
  type: z.literal("step.failed"),
  stepId: z.string(),
  name: z.string(),
  error: SerializedErrorSchema,
  attempt: z.number().int().nonnegative(),
  startedAt: z.number(),
});

export const SleepStartedSchema = z.object({
  ...base,
  type: z.literal("sleep.started"),
  stepId: z.string(),
  name: z.string(),
  until: z.number(),
  timerId: z.string(),
});

/**
 * `step.waitForEvent`: resolved by the first event named `event` stored after EVENTS sequence
 * `afterSeq` for which `if` (CEL; `event` = the run's trigger, `async` = the candidate) holds, or
 * with null when the timer `timerId` fires at `timeoutAt` (when it has one).
 */
export const WaitStartedSchema = z.object({
  ...base,
  type: z.literal("wait.started"),
  stepId: z.string(),
  name: z.string(),
  event: z.string().min(1),
  if: z.string().optional(),
  afterSeq: z.number().int().nonnegative(),
  /** Absent for a `step.invoke` without a timeout: it waits for the target's end, however long. */
  timeoutAt: z.number().optional(),
  timerId: z.string().optional(),
  /** `step.invoke`: the wait is for the target run's `inngest/function.finished`. */
  invoke: z
    .object({
      functionId: z.string(),
      data: z.record(z.string(), z.unknown()),
      correlationId: z.string(),
      /** The invoked event's `meta` (sessions) and `user`. */
      meta: StoredEventMetaSchema.optional(),
      user: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});

export const WaitMatchedSchema = z.object({
  ...base,
  type: z.literal("wait.matched"),
  stepId: z.string(),
  event: StoredEventSchema,
});

export const TimerFiredSchema = z.object({ ...base, type: z.literal("timer.fired"), timerId: z.string() });

/**
 * Saga compensation begins instead of the run failing (or being cancelled, with
 * `compensateOnCancel`): the compensations of `steps` run one by one in this order (reverse order
 * of completion); the run then ends `compensated`, or `compensation_failed` if any failed for good.
 */
export const CompensationStartedSchema = z.object({
  ...base,
  type: z.literal("compensation.started"),
  reason: z.enum(["failed", "cancelled"]),
  error: SerializedErrorSchema.optional(),
  cancelReason: z.string().optional(),
  steps: z.array(z.string()).min(1),
});

export const CompensationCompletedSchema = z.object({
  ...base,
  type: z.literal("compensation.completed"),
  stepId: z.string(),
  data: z.unknown(),
  attempt: z.number().int().nonnegative(),
  startedAt: z.number(),
});

export const CompensationErroredSchema = z.object({
  ...base,
  type: z.literal("compensation.errored"),
  stepId: z.string(),
  error: SerializedErrorSchema,
  attempt: z.number().int().nonnegative(),
  startedAt: z.number(),
  retryAt: z.number(),
  timerId: z.string(),
});

export const CompensationFailedSchema = z.object({
  ...base,
  type: z.literal("compensation.failed"),
  stepId: z.string(),
  error: SerializedErrorSchema,
  attempt: z.number().int().nonnegative(),
  startedAt: z.number(),
});

export const RunCompletedSchema = z.object({
  ...base,
  type: z.literal("run.completed"),
  output: z.unknown(),
});
export const RunFailedSchema = z.object({
  ...base,
  type: z.literal("run.failed"),
  error: SerializedErrorSchema,
});
export const RunCancelledSchema = z.object({ ...base, type: z.literal("run.cancelled"), reason: z.string() });

/**
 * The execution version the app's SDK answered with (`x-inngest-req-version`): a run's first call
 * sends -1 ("the SDK decides"), every later one the version recorded here, as Inngest does.
 */
export const RunVersionedSchema = z.object({
  ...base,
  type: z.literal("run.versioned"),
  version: z.number().int().min(-1).max(100),
});

/**
 * `defer(id, { function, data })` (the official v4 SDK's `DeferAdd`): once the run ends, however it
 * ends, Jetstep sends `inngest/deferred.schedule` with `input` for the function `fnSlug`, unless
 * the run aborted it first (`defer.aborted`). `deferId` is the SDK's hashed id: one per run, so a
 * resend is recorded once. `rejected` says why a defer was refused (it is kept, so a resend stays
 * refused, and never sent).
 */
export const DeferAddedSchema = z.object({
  ...base,
  type: z.literal("defer.added"),
  deferId: z.string(),
  name: z.string(),
  fnSlug: z.string(),
  input: z.record(z.string(), z.unknown()).optional(),
  meta: StoredEventMetaSchema.optional(),
  rejected: z.string().optional(),
});

/** `DeferAbort`: the deferred run `deferId` is not sent after all. */
export const DeferAbortedSchema = z.object({
  ...base,
  type: z.literal("defer.aborted"),
  deferId: z.string(),
});

/**
 * A durable endpoint's run leaves sync mode: from now on the executor calls the endpoint (with
 * the original request) to go on, as it calls any function. `reason` says why (the app asked, or
 * it was not heard from in time).
 */
export const EndpointAsyncSchema = z.object({
  ...base,
  type: z.literal("endpoint.async"),
  reason: z.string(),
});

export const RunLogEntrySchema = z.discriminatedUnion("type", [
  RunScheduledSchema,
  StepsPlannedSchema,
  StepCompletedSchema,
  StepErroredSchema,
  StepFailedSchema,
  SleepStartedSchema,
  WaitStartedSchema,
  WaitMatchedSchema,
  TimerFiredSchema,
  RunCompletedSchema,
  RunFailedSchema,
  RunCancelledSchema,
  RunVersionedSchema,
  DeferAddedSchema,
  DeferAbortedSchema,
  EndpointAsyncSchema,
  CompensationStartedSchema,
  CompensationCompletedSchema,
  CompensationErroredSchema,
  CompensationFailedSchema,
]);
export type RunLogEntry = z.infer<typeof RunLogEntrySchema>;
export type RunLogEntryType = RunLogEntry["type"];
/** An entry before the writer numbers it. */
export type NewRunLogEntry = RunLogEntry extends infer E
  ? E extends RunLogEntry
    ? Omit<E, "n">
    : never
  : never;

/** Function-level (outside any step) pseudo step id. */
export const FN_STEP = "$fn";
