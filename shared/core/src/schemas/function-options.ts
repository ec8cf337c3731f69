/**
 * The options of a registered function, one schema each: what an app may send in its
 * registration (Inngest's format) and what our SDK's `createFunction` accepts for the same
 * fields. Durations must parse, CEL expressions must compile, and every error names its field, so
 * nothing invalid reaches a run. The gateway takes unknown keys inside an option (`.loose()`, as
 * other SDKs send more); our SDK refuses them (`.strict()`), so a typo fails at `createFunction`.
 */
import { z } from "zod";
import { jitterMs, parseCron } from "../cron.ts";
import { parseDuration } from "../duration.ts";
import { InvalidDurationError } from "../errors.ts";
import { compileExpression, compileValueExpression } from "../expr.ts";
import { ConcurrencySchema } from "../flow-control.ts";

/** Largest `batchEvents.maxSize` (Inngest's limit). */
export const MAX_BATCH_SIZE = 100;

/** Options that cannot go with `batchEvents` (a batch run has no single triggering event). */
export const BATCH_CONFLICTS = [
  "cancel",
  "idempotency",
  "rateLimit",
  "debounce",
  "priority",
  "singleton",
] as const;

/** Adds an issue with `fn`'s error message if it throws. */
const refineWith =
  <T>(fn: (value: T) => unknown) =>
  (value: T, ctx: z.RefinementCtx) => {
    try {
      fn(value);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
    }
  };

/** A duration: ms, or text such as "30s", "2h45m", "1d". */
export const DurationOptionSchema = z
  .union([z.string(), z.number()], { error: (issue) => new InvalidDurationError(issue.input).message })
  .superRefine(refineWith(parseDuration));

/** A duration longer than 0. */
export const PeriodOptionSchema = DurationOptionSchema.superRefine((value, ctx) => {
  try {
    if (parseDuration(value) <= 0) ctx.addIssue({ code: "custom", message: "must be longer than 0" });
  } catch {
    // reported by DurationOptionSchema
  }
});

/** A CEL condition over the event (true or false). */
export const CelConditionSchema = z
  .string({ error: "must be a CEL expression string" })
  .min(1, "must be a non-empty CEL expression")
  .superRefine(refineWith(compileExpression));

/** A CEL expression over the event whose value is used (a key, a priority). */
export const CelValueSchema = z
  .string({ error: "must be a CEL expression string" })
  .min(1, "must be a non-empty CEL expression")
  .superRefine(refineWith(compileValueExpression));

const limit = z
  .number({ error: "must be an integer of at least 1" })
  .int("must be an integer of at least 1")
  .min(1, "must be an integer of at least 1");
const obj = { error: "must be an object" };

export const RateLimitOptionSchema = z.object(
  { limit, period: PeriodOptionSchema, key: CelValueSchema.optional() },
  obj,
);
export const ThrottleOptionSchema = z.object(
  { limit, period: PeriodOptionSchema, burst: limit.optional(), key: CelValueSchema.optional() },
  obj,
);
export const DebounceOptionSchema = z.object(
  { period: PeriodOptionSchema, key: CelValueSchema.optional(), timeout: PeriodOptionSchema.optional() },
  obj,
);
export const PriorityOptionSchema = z.object({ run: CelValueSchema.optional() }, obj);
export const SingletonOptionSchema = z.object(
  {
    mode: z.enum(["skip", "cancel"], { error: 'must be "skip" or "cancel"' }),
    key: CelValueSchema.optional(),
  },
  obj,
);
export const BatchEventsOptionSchema = z.object(
  {
    maxSize: z
      .number({ error: `must be an integer from 1 to ${MAX_BATCH_SIZE}` })
      .int(`must be an integer from 1 to ${MAX_BATCH_SIZE}`)
      .min(1, `must be an integer from 1 to ${MAX_BATCH_SIZE}`)
      .max(MAX_BATCH_SIZE, `must be an integer from 1 to ${MAX_BATCH_SIZE}`),
    timeout: DurationOptionSchema,
    key: CelValueSchema.optional(),
    if: CelConditionSchema.optional(),
  },
  obj,
);
/** `start`: cancel a run not started this long after its event; `finish`: not finished this long after it started. */
export const TimeoutsOptionSchema = z.object(
  { start: DurationOptionSchema.optional(), finish: DurationOptionSchema.optional() },
  obj,
);

/** `concurrency` with its keys compiled, and a shared scope only with a key. */
export const ConcurrencyOptionSchema = ConcurrencySchema.superRefine((value, ctx) => {
  const items = Array.isArray(value) ? value : [value];
  for (const [n, item] of items.entries()) {
    if (typeof item !== "object" || item === null) continue;
    const path = Array.isArray(value) ? [n, "key"] : ["key"];
    if (item.scope && item.scope !== "fn" && !item.key)
      ctx.addIssue({ code: "custom", path, message: `the "${item.scope}" scope needs a key` });
    if (item.key)
      try {
        compileValueExpression(item.key);
      } catch (e) {
        ctx.addIssue({ code: "custom", path, message: (e as Error).message });
      }
  }
});

/** A cron trigger's schedule (`TZ=<zone> <5 fields>`). */
export const CronOptionSchema = z
  .string({ error: "must be a cron expression" })
  .min(1, "must be a non-empty cron expression")
  .superRefine(refineWith(parseCron));

/** How long after its slot a scheduled run may start (at most a day). */
export const JitterOptionSchema = z
  .union([z.string().min(1), z.number().nonnegative()], { error: "must be a duration" })
  .superRefine(refineWith(jitterMs));

/**
 * The flow-control and run options shared by registrations and our SDK, by their wire names.
 * `loose`: unknown keys inside an option are kept (registrations); `strict`: refused (our SDK).
 */
export function functionOptionShape(mode: "loose" | "strict") {
  const o = <S extends z.ZodRawShape>(schema: z.ZodObject<S>) =>
    mode === "loose" ? schema.loose() : schema.strict();
  return {
    concurrency: ConcurrencyOptionSchema.optional(),
    idempotency: CelValueSchema.optional(),
    rateLimit: o(RateLimitOptionSchema).optional(),
    throttle: o(ThrottleOptionSchema).optional(),
    debounce: o(DebounceOptionSchema).optional(),
    priority: o(PriorityOptionSchema).optional(),
    singleton: o(SingletonOptionSchema).optional(),
    batchEvents: o(BatchEventsOptionSchema).optional(),
    timeouts: o(TimeoutsOptionSchema).optional(),
    /** Also run saga compensations when the run is cancelled (they always run on failure). */
    compensateOnCancel: z.boolean({ error: "must be true or false" }).optional(),
  };
}

/** Reports `batchEvents` next to an option it cannot go with (a registration's names). */
export function batchConflicts(fn: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (fn.batchEvents === undefined) return;
  for (const other of BATCH_CONFLICTS)
    if (fn[other] !== undefined)
      ctx.addIssue({
        code: "custom",
        message: `batchEvents cannot be combined with ${other === "cancel" ? "cancelOn (cancel)" : other}`,
      });
}
