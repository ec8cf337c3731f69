/**
 * Run metadata (the official v4 SDK's `inngest.score(…)`, `step.score(…)` and experimental
 * `metadata` builders): named bags of values on a run, or on one of its steps.
 *
 * Two ways in: an op the app answers with (a step that wrote metadata while it ran carries
 * `metadata: [{kind, scope, op, values}]`), and `POST /v1/runs/:id/metadata` with
 * `{target: {run_id, step_id?, …}, metadata: [{kind, op, values}]}` (writes from outside a step,
 * also after the run ended). `op: "set"` replaces a kind's values, `"merge"` adds to them.
 */
import { z } from "zod";

export const MAX_METADATA_UPDATES = 50;
/** The largest a run's stored metadata may grow (JSON bytes). */
export const MAX_RUN_METADATA_BYTES = 256 * 1024;

const plainObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  { message: "must be an object" },
);

/**
 * The metadata kind where Jetstep notes a run's reruns (`{<rerun id>: <when, ISO>}`), reserved:
 * apps and the API may not write kinds under `jetstep.`.
 */
export const RERUNS_METADATA_KIND = "jetstep.reruns";

export const MetadataUpdateSchema = z
  .object({
    kind: z
      .string({ error: "must be a string" })
      .min(1, "must be a non-empty string")
      .max(128, "must be at most 128 characters")
      .refine((k) => !k.startsWith("jetstep."), { message: 'must not start with "jetstep." (reserved)' }),
    op: z.enum(["set", "merge"], { error: 'must be "set" or "merge"' }),
    values: plainObject,
  })
  .loose();
export type MetadataUpdate = z.infer<typeof MetadataUpdateSchema>;

/** `POST /v1/runs/:id/metadata`. */
export const RunMetadataRequestSchema = z.object({
  target: z
    .object({
      run_id: z.string({ error: "must be the run's id" }).min(1),
      step_id: z.string().min(1).optional(),
      step_index: z.number().int().nonnegative().optional(),
      step_attempt: z.number().int().nonnegative().optional(),
      span_id: z.string().optional(),
    })
    .loose(),
  metadata: z
    .array(MetadataUpdateSchema)
    .min(1, "must hold at least one update")
    .max(MAX_METADATA_UPDATES, `must hold at most ${MAX_METADATA_UPDATES} updates`),
});
export type RunMetadataRequest = z.infer<typeof RunMetadataRequestSchema>;

/** What a run's metadata holds: per kind, its values; on the run and per step id. */
export interface RunMetadata {
  run: Record<string, Record<string, unknown>>;
  steps: Record<string, Record<string, Record<string, unknown>>>;
}

export const emptyRunMetadata = (): RunMetadata => ({ run: {}, steps: {} });

/** Applies updates to the run (no `stepId`) or to one step; returns the new metadata. */
export function applyMetadata(
  current: RunMetadata,
  stepId: string | undefined,
  updates: readonly MetadataUpdate[],
): RunMetadata {
  const bag = { ...(stepId === undefined ? current.run : (current.steps[stepId] ?? {})) };
  for (const u of updates)
    bag[u.kind] = u.op === "merge" ? { ...(bag[u.kind] ?? {}), ...u.values } : u.values;
  return stepId === undefined
    ? { ...current, run: bag }
    : { ...current, steps: { ...current.steps, [stepId]: bag } };
}

const OpMetadataSchema = z.array(MetadataUpdateSchema.extend({ scope: z.string().optional() }));

/**
 * The metadata updates an op carries (`op.metadata`: a step that wrote some while it ran), split
 * by where they go: run-scoped ones on the run, the rest on the step. None when malformed.
 */
export function opMetadata(op: object): { run: MetadataUpdate[]; step: MetadataUpdate[] } {
  const parsed = OpMetadataSchema.safeParse((op as { metadata?: unknown }).metadata);
  const all = parsed.success ? parsed.data : [];
  return { run: all.filter((u) => u.scope === "run"), step: all.filter((u) => u.scope !== "run") };
}
