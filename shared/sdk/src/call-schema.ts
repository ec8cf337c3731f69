import { z } from "zod";
import { InvalidCallError } from "./errors.ts";

const record = z.record(z.string(), z.unknown());

/** `ctx` of a call. Only `run_id` is required; unknown fields are kept and ignored. */
export const callCtxSchema = z.looseObject({
  run_id: z.string().min(1),
  attempt: z.number().int().min(0).default(0),
  max_attempts: z.number().int().min(1).nullish(),
  stack: z
    .looseObject({
      stack: z
        .array(z.string())
        .nullish()
        .transform((v) => v ?? []),
      current: z.number().int().nullish(),
    })
    .nullish(),
  disable_immediate_execution: z.boolean().default(false),
  use_api: z
    .literal(false, { error: "use_api:true is not supported; send events and steps inline" })
    .default(false),
  env: z.string().nullish(),
  step_id: z.string().nullish(),
  fn_id: z.string().nullish(),
  /** The dispatch id: with `fn_id`, the call may checkpoint (checkpoint.ts). */
  qi_id: z.string().nullish(),
});

/** The body of an executor → app call (docs/PROTOCOL.md, "Call body"). */
export const callBodySchema = z.looseObject({
  event: record,
  events: z.array(record).nullish(),
  steps: z.record(z.string(), z.unknown()).nullish(),
  /** Defers Jetstep recorded for the run (`defer()`), by hashed id. */
  defers: z.record(z.string(), z.looseObject({ abortable: z.boolean().optional() })).nullish(),
  ctx: callCtxSchema,
  version: z.union([z.literal(-1), z.literal(1), z.literal(2)], { error: "expected -1, 1 or 2" }).nullish(),
});

export type CallBody = z.infer<typeof callBodySchema>;
export type CallCtx = z.infer<typeof callCtxSchema>;

/**
 * Validates a parsed call body. Throws InvalidCallError naming the first bad field
 * (e.g. `ctx.run_id: Invalid input: expected string, received undefined`).
 */
export function parseCallBody(value: unknown): CallBody {
  const result = callBodySchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.length ? issue.path.map(String).join(".") : "(body)";
  const message = issue?.message ?? "invalid";
  throw new InvalidCallError(field, `Invalid call body: ${field}: ${message}`);
}
