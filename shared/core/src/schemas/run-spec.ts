/**
 * A run's spec: what a run is started with, decided once when it is matched (or rerun, or started
 * by a durable endpoint) and then carried unchanged, under the same names, from the start command
 * through the `run.scheduled` entry into the run's context. Nothing on the way renames, recomputes
 * or drops a field: adding one is a change here and in the service that enforces it.
 *
 * Deadlines are absolute where they can be decided at match time (`cancelOn[].until`,
 * `timeouts.startBy`, both counted from the event) and a duration where they count from the run's
 * scheduling (`timeouts.finishAfterMs`, from `run.scheduled`'s time, the run's `createdAt`).
 */
import { z } from "zod";
import { parseDuration } from "../duration.ts";
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

/** `timeouts` of the function as the run applies them, with the configured texts for messages. */
export const RunTimeoutsSchema = z.object({
  /** The run is cancelled if the app has not answered by this time (ms; the event's time + `start`). */
  startBy: z.number().optional(),
  /**
   * `timeouts.start` as registered (for messages). Start commands of matchers before run specs
   * carried the registered duration here without `startBy` (a number meant ms): see `runTimeouts`.
   */
  start: z.union([z.string(), z.number()]).optional(),
  /** The run is cancelled if it has not ended this long (ms) after it was scheduled. */
  finishAfterMs: z.number().nonnegative().optional(),
  /** `timeouts.finish` as registered (for messages); see `start`. */
  finish: z.union([z.string(), z.number()]).optional(),
  /** `run.scheduled` entries before run specs: the finish deadline as an absolute time. */
  finishBy: z.number().optional(),
});
export type RunTimeouts = z.infer<typeof RunTimeoutsSchema>;

/** `cancelOn` of the function: an event matching one cancels the run (until its deadline). */
export const RunCancelOnSchema = z.object({
  event: z.string(),
  if: z.string().optional(),
  until: z.number().optional(),
});

/** The fields of a run's spec, shared by the start command, `run.scheduled` and the run's context. */
export const runSpecShape = {
  runId: z.string(),
  fnId: z.string(),
  appId: z.string(),
  url: z.string(),
  maxAttempts: z.number().int().min(1).max(21),
  event: StoredEventSchema,
  events: z.array(StoredEventSchema),
  /** EVENTS stream sequence of the triggering event: later events may cancel the run. */
  eventSeq: z.number().int().nonnegative().optional(),
  /** Run saga compensations on cancellation too (not only on failure). */
  compensateOnCancel: z.boolean().optional(),
  /** Concurrency slots the run's steps compete for (keys computed when it was matched). */
  concurrency: z.array(z.object({ key: z.string(), limit: z.number().int().positive() })).optional(),
  /**
   * Throttle, as matchers before the THROTTLE queue scheduled it: the run may not start before
   * this time (ms; durable timer `throttle`). Kept so their start commands still apply; cleared
   * from the context when the timer fires.
   */
  startAt: z.number().optional(),
  /** Throttle: the limit its first call is held to when it goes out. */
  throttle: ThrottleSpecSchema.optional(),
  /** Priority in seconds (±600): under a backlog the run goes ahead of work queued up to this much earlier. */
  priority: z.number().optional(),
  /** W3C trace context the triggering event arrived with: the run's span is its child. */
  traceparent: TraceparentSchema.optional(),
  cancelOn: z.array(RunCancelOnSchema).optional(),
  timeouts: RunTimeoutsSchema.optional(),
  /** A durable endpoint's run (`url` is the endpoint's URL, the event `inngest/http.request`). */
  endpoint: EndpointSpecSchema.optional(),
  /** The run this one reruns (`POST /v1/runs/:id/rerun`, or a replay). */
  rerunOf: z.string().optional(),
} as const;

export const RunSpecSchema = z.object(runSpecShape);
export type RunSpec = z.infer<typeof RunSpecSchema>;

const SPEC_KEYS = Object.keys(runSpecShape) as (keyof RunSpec)[];

/** The spec fields of a start command or a `run.scheduled` entry (those present), nothing else. */
export function runSpecOf(x: RunSpec): RunSpec {
  const spec: Record<string, unknown> = {};
  for (const k of SPEC_KEYS) if (x[k] !== undefined) spec[k] = x[k];
  return spec as RunSpec;
}

/** A function's `timeouts` normalised at registration: durations in ms, texts for messages. */
export interface TimeoutsSpec {
  startMs?: number;
  start?: string;
  finishMs?: number;
  finish?: string;
}

/** A function's `timeouts` as registered (durations), normalised once. */
export function timeoutsSpec(
  t: { start?: string | number; finish?: string | number } | undefined,
): TimeoutsSpec | undefined {
  if (!t || (t.start === undefined && t.finish === undefined)) return undefined;
  const text = (d: string | number) => (typeof d === "number" ? `${d} ms` : d);
  return {
    ...(t.start !== undefined ? { startMs: parseDuration(t.start), start: text(t.start) } : {}),
    ...(t.finish !== undefined ? { finishMs: parseDuration(t.finish), finish: text(t.finish) } : {}),
  };
}

/** What of a function's spec decides a run's deadlines. */
export interface DeadlineOptions {
  cancelOn: { event: string; if?: string; timeoutMs?: number }[];
  timeouts?: TimeoutsSpec;
}

/**
 * A run's deadlines, decided once when it is matched: each `cancelOn` timeout and `timeouts.start`
 * count from the triggering event; `timeouts.finish` from the run's scheduling (kept as a duration).
 */
export function runDeadlines(fn: DeadlineOptions, eventTs: number): Pick<RunSpec, "cancelOn" | "timeouts"> {
  const t = fn.timeouts;
  return {
    ...(fn.cancelOn.length > 0
      ? {
          cancelOn: fn.cancelOn.map((c) => ({
            event: c.event,
            ...(c.if ? { if: c.if } : {}),
            ...(c.timeoutMs !== undefined ? { until: eventTs + c.timeoutMs } : {}),
          })),
        }
      : {}),
    ...(t
      ? {
          timeouts: {
            ...(t.startMs !== undefined ? { startBy: eventTs + t.startMs, start: t.start } : {}),
            ...(t.finishMs !== undefined ? { finishAfterMs: t.finishMs, finish: t.finish } : {}),
          },
        }
      : {}),
  };
}

/**
 * A run's `timeouts` in today's form, from any form it was written in: a start command from a
 * matcher before run specs (registered durations only), a `run.scheduled` entry from before them
 * (`finishBy`, absolute), or today's. `eventTs` is the triggering event's time, `scheduledAt` the
 * `run.scheduled` entry's.
 */
export function runTimeouts(
  t: RunTimeouts | undefined,
  eventTs: number,
  scheduledAt: number,
): RunTimeouts | undefined {
  if (!t) return undefined;
  const legacyStart = t.start !== undefined && t.startBy === undefined;
  const legacyFinish = t.finish !== undefined && t.finishAfterMs === undefined && t.finishBy === undefined;
  const upgraded =
    legacyStart || legacyFinish
      ? { ...t, ...runDeadlines({ cancelOn: [], timeouts: timeoutsSpec(t) }, eventTs).timeouts }
      : t;
  if (upgraded.finishBy === undefined) return upgraded;
  const { finishBy, ...rest } = upgraded;
  return { ...rest, finishAfterMs: Math.max(0, finishBy - scheduledAt) };
}
