import { z } from "zod";
import { MAX_FUNCTIONS_PER_APP, MAX_NAME_LENGTH, MAX_URL_LENGTH, subjectProblem } from "../limits.ts";
import { Keys, Subjects } from "../names.ts";
import { EventNameSchema } from "./event.ts";
import {
  batchConflicts,
  CelConditionSchema,
  CronOptionSchema,
  DurationOptionSchema,
  functionOptionShape,
  JitterOptionSchema,
} from "./function-options.ts";

/** Retries per step: 0–20, default 4 (so 5 attempts). */
export const DEFAULT_RETRIES = 4;
export const MAX_RETRIES = 20;

/**
 * A name that becomes part of subjects or keys (app and function ids): 1–256 characters, and each
 * subject `subjectsOf` builds from it fits MAX_SUBJECT_BYTES.
 */
const subjectName = (subjectsOf: (name: string) => string[]) =>
  z
    .string({ error: "is required and must be a string" })
    .min(1, "must be a non-empty string")
    .max(MAX_NAME_LENGTH, { error: `must be at most ${MAX_NAME_LENGTH} characters`, abort: true })
    .superRefine((name, ctx) => {
      for (const subject of subjectsOf(name)) {
        const problem = subjectProblem(subject);
        if (problem) return ctx.addIssue({ code: "custom", message: problem });
      }
    });

const urlString = (message: string) =>
  z
    .string({ error: message })
    .max(MAX_URL_LENGTH, { error: `must be at most ${MAX_URL_LENGTH} characters`, abort: true })
    .url(message);

export const TriggerSchema = z.union(
  [
    z.object({ event: EventNameSchema, expression: CelConditionSchema.optional() }).strict(),
    z
      .object({
        cron: CronOptionSchema,
        /** Each scheduled run starts up to this much after its slot (the SDK's `jitter`). */
        jitter: JitterOptionSchema.optional(),
      })
      .strict(),
  ],
  { error: "must be {event, expression?} or {cron, jitter?}" },
);
export type Trigger = z.infer<typeof TriggerSchema>;

const RuntimeSchema = z.object({ type: z.string().default("http"), url: urlString("must be a URL") }).loose();

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

/** `cancelOn` as registered (`cancel`): an event, optionally filtered by CEL, within a timeout. */
export const CancelOnSchema = z
  .object({
    event: EventNameSchema,
    if: CelConditionSchema.optional(),
    timeout: DurationOptionSchema.optional(),
  })
  .loose();
export type CancelOn = z.infer<typeof CancelOnSchema>;

/** One function as an app registers it (Inngest's register format). */
export const FunctionDefSchema = z
  .object({
    // A function id's longest key: its flow-control key `<kind>.<id>.<16-hex key hash>` (FLOW bucket).
    id: subjectName((id) => [Keys.flow("singleton", id, "0".repeat(16))]),
    name: z.string().optional(),
    // None: the function only runs when invoked (`step.invoke`, `POST /v1/functions/:id/invoke`).
    triggers: z.array(TriggerSchema),
    steps: z.record(z.string(), StepDefSchema).refine((s) => Object.keys(s).length > 0, "must define a step"),
    cancel: z.array(CancelOnSchema).optional(),
    ...functionOptionShape("loose"),
  })
  .loose()
  .superRefine(batchConflicts);
export type FunctionDef = z.infer<typeof FunctionDefSchema>;

/** `POST /fn/register` body. */
export const RegisterRequestSchema = z
  .object({
    url: urlString("must be the app's URL"),
    appName: subjectName((id) => [Keys.app(id), Subjects.workerCall(id)]),
    deployType: z.string().optional(),
    framework: z.string().optional(),
    appVersion: z.string().optional(),
    sdk: z.string().optional(),
    v: z.string().optional(),
    functions: z
      .array(FunctionDefSchema)
      .max(MAX_FUNCTIONS_PER_APP, {
        error: `at most ${MAX_FUNCTIONS_PER_APP} functions per app`,
        abort: true,
      })
      .superRefine((fns, ctx) => {
        const seen = new Set<string>();
        for (const [i, fn] of fns.entries()) {
          if (seen.has(fn.id))
            ctx.addIssue({ code: "custom", path: [i, "id"], message: `duplicate function id "${fn.id}"` });
          seen.add(fn.id);
        }
      }),
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

/**
 * Formats zod issues as `path: message; …` so an error names the field; paths start at `at` when
 * given (`events[3]` → `events[3].id: …`).
 */
export function formatIssues(error: z.ZodError, at?: string): string {
  return error.issues
    .map((i) => {
      const path = [...(at === undefined ? [] : [at]), ...i.path.map(String)].join(".");
      return `${path || "(root)"}: ${i.message}`;
    })
    .join("; ");
}
