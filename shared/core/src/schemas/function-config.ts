import { z } from "zod";

/** Retries per step: 0–20, default 4 (so 5 attempts). */
export const DEFAULT_RETRIES = 4;
export const MAX_RETRIES = 20;

export const TriggerSchema = z.union([
  z
    .object({ event: z.string().min(1, "must be a non-empty event name"), expression: z.string().optional() })
    .strict(),
  z.object({ cron: z.string().min(1, "must be a non-empty cron expression") }).strict(),
]);
export type Trigger = z.infer<typeof TriggerSchema>;

const RuntimeSchema = z
  .object({ type: z.string().default("http"), url: z.string().url("must be a URL") })
  .loose();

const StepDefSchema = z
  .object({
    id: z.string().default("step"),
    name: z.string().default("step"),
    runtime: RuntimeSchema,
    retries: z
      .object({ attempts: z.number().int().min(0).max(MAX_RETRIES, `must be at most ${MAX_RETRIES}`) })
      .optional(),
  })
  .loose();

const DurationSchema = z.union([z.string().min(1), z.number().nonnegative()]);

/** `cancelOn` as registered (`cancel`): an event, optionally filtered by CEL, within a timeout. */
export const CancelOnSchema = z
  .object({
    event: z.string().min(1, "must be a non-empty event name"),
    if: z.string().optional(),
    timeout: DurationSchema.optional(),
  })
  .loose();
export type CancelOn = z.infer<typeof CancelOnSchema>;

/** One function as an app registers it (Inngest's register format). */
export const FunctionDefSchema = z
  .object({
    id: z.string().min(1, "must be a non-empty string"),
    name: z.string().optional(),
    triggers: z.array(TriggerSchema).min(1, "must have at least one trigger"),
    steps: z.record(z.string(), StepDefSchema).refine((s) => Object.keys(s).length > 0, "must define a step"),
    cancel: z.array(CancelOnSchema).optional(),
    /** `start`: cancel a run not started this long after its event; `finish`: not finished this long after it started. */
    timeouts: z
      .object({ start: DurationSchema.optional(), finish: DurationSchema.optional() })
      .loose()
      .optional(),
  })
  .loose();
export type FunctionDef = z.infer<typeof FunctionDefSchema>;

/** `POST /fn/register` body. */
export const RegisterRequestSchema = z
  .object({
    url: z.string().url("must be the app's URL"),
    appName: z.string().min(1, "must be a non-empty string"),
    deployType: z.string().optional(),
    framework: z.string().optional(),
    appVersion: z.string().optional(),
    sdk: z.string().optional(),
    v: z.string().optional(),
    functions: z.array(FunctionDefSchema),
  })
  .loose();
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;

/** What the FUNCTIONS bucket stores per app. */
export interface AppRecord {
  appId: string;
  url: string;
  framework?: string;
  sdk?: string;
  functions: FunctionDef[];
  syncedAt: number;
}

/** Number of retries configured for a function (default 4). */
export function retriesOf(fn: FunctionDef): number {
  const step = Object.values(fn.steps)[0];
  return step?.retries?.attempts ?? DEFAULT_RETRIES;
}

/** The URL the executor calls for a function (the first step's runtime URL). */
export function callUrlOf(fn: FunctionDef): string {
  const step = Object.values(fn.steps)[0];
  if (!step) throw new Error(`function ${fn.id} has no step`);
  return step.runtime.url;
}

/** Formats zod issues as `path: message; …` so an error names the field. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join(".") : "(root)"}: ${i.message}`)
    .join("; ");
}
