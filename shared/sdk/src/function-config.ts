import {
  CelConditionSchema,
  CronOptionSchema,
  DurationOptionSchema,
  functionOptionShape,
} from "@jetstep/core/protocol";
import { z } from "zod";
import { InvalidConfigError } from "./errors.ts";
import type { FailureHandler } from "./function.ts";

/** Default number of retries (per step): 4 retries → 5 attempts. */
export const DEFAULT_RETRIES = 4;
/** Most retries a function may ask for. */
export const MAX_RETRIES = 20;

const nonEmpty = z.string().trim().min(1, { error: "must be a non-empty string" });
/** A CEL condition: compiled here, so a typo fails at createFunction, not in a run. */
const expression = CelConditionSchema;
/** A `match` field path such as `data.orderId` (becomes `event.<path> == async.<path>`). */
const fieldPath = nonEmpty.regex(/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/, {
  error: 'must be a field path such as "data.userId"',
});
const duration = DurationOptionSchema;
/**
 * The function options accepted by `createFunction`. The flow-control and run options are core's,
 * the schema the server checks registrations with (here refusing unknown keys); they are sent to
 * the server as given.
 */
export const functionConfigSchema = z.strictObject({
  id: z
    .string()
    .min(1, { error: "must be a non-empty string" })
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, {
      error: "may contain only letters, digits, '-', '_', '.', ':' and must start with a letter or digit",
    }),
  name: nonEmpty.optional(),
  retries: z.number().int({ error: "must be an integer" }).min(0).max(MAX_RETRIES).optional(),
  ...functionOptionShape("strict"),
  cancelOn: z
    .array(
      z.strictObject({
        event: nonEmpty,
        if: expression.optional(),
        match: fieldPath.optional(),
        timeout: duration.optional(),
      }),
    )
    .optional(),
  /** Runs (as function `<appId>-<id>-failure`, 1 retry) after this function fails for good. */
  onFailure: z
    .custom<FailureHandler>((v) => typeof v === "function", { error: "must be a function" })
    .optional(),
});

const eventTrigger = z.strictObject({ event: nonEmpty, if: expression.optional() });
const cronTrigger = z.strictObject({
  cron: CronOptionSchema,
  /** Each scheduled run starts up to this long after its slot (spreads load across a fleet). */
  jitter: duration.optional(),
});
const trigger = z.union([eventTrigger, cronTrigger], {
  error: "must be { event, if? } or { cron, jitter? }",
});

/** A trigger given to `createFunction`: one, or an array of at least one. */
export const triggersSchema = z.union(
  [trigger, z.array(trigger).min(1, { error: "must list at least one trigger" })],
  {
    error: "must be { event, if? }, { cron }, or a non-empty array of them",
  },
);

/** The config argument of `createFunction` (see the schema above for limits). */
export type FunctionConfigInput = z.input<typeof functionConfigSchema>;
export type FunctionConfig = z.output<typeof functionConfigSchema>;
export type EventTrigger = z.output<typeof eventTrigger>;
export type CronTrigger = z.output<typeof cronTrigger>;
export type Trigger = EventTrigger | CronTrigger;
/** A trigger as written by the user: `{ event, if? }` (`if` is CEL over `event`) or `{ cron }`. */
export type TriggerInput = { event: string; if?: string } | { cron: string };

/**
 * Validates a function's config and triggers. Throws InvalidConfigError whose message and `field`
 * name the first bad property, e.g. `createFunction("send-email"): config.retries: Too big: expected
 * number to be <=20`.
 */
export function parseFunctionDefinition(
  config: unknown,
  triggers: unknown,
): { config: FunctionConfig; triggers: Trigger[] } {
  const fnLabel = describeFn(config);
  const c = functionConfigSchema.safeParse(config);
  if (!c.success) throw toConfigError(fnLabel, "config", c.error);
  const t = triggersSchema.safeParse(triggers);
  if (!t.success) throw toConfigError(fnLabel, "trigger", t.error);
  return { config: c.data, triggers: Array.isArray(t.data) ? t.data : [t.data] };
}

function describeFn(config: unknown): string {
  const id = typeof config === "object" && config !== null ? (config as { id?: unknown }).id : undefined;
  return typeof id === "string" ? `createFunction(${JSON.stringify(id)})` : "createFunction()";
}

function toConfigError(fnLabel: string, root: string, error: z.ZodError): InvalidConfigError {
  const issue = error.issues[0];
  const field = [root, ...(issue?.path ?? []).map(String)].join(".");
  return new InvalidConfigError(field, `${fnLabel}: ${field}: ${issue?.message ?? "invalid"}`);
}
