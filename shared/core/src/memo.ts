/**
 * What a call sends the app about its run: the memo of final steps (`memoOf`), their completion
 * order (`stackOf`) and the defers already recorded (`defersOf`).
 */
import type { RunContext } from "./run-context.ts";
import { FN_STEP } from "./schemas/log.ts";

/**
 * The `defers` sent to the app: every defer the run recorded, so the SDK does not send one again
 * from a later call, and `abort()` of one no longer scheduled does nothing.
 */
export function defersOf(ctx: RunContext): Record<string, { abortable: boolean }> {
  const out: Record<string, { abortable: boolean }> = {};
  for (const d of Object.values(ctx.defers ?? {})) out[d.deferId] = { abortable: d.status === "scheduled" };
  return out;
}

/** The `steps` memo sent to the app, keyed by step hash. */
export function memoOf(ctx: RunContext): Record<string, unknown> {
  const memo: Record<string, unknown> = {};
  for (const id of ctx.stepOrder) {
    const s = ctx.steps[id];
    if (!s || id === FN_STEP) continue;
    if (s.status === "completed") memo[id] = s.memoRaw ? (s.data ?? null) : { data: s.data ?? null };
    else if (s.status === "failed") memo[id] = { error: s.error };
  }
  return memo;
}

/** Hashes of final steps in completion order (the SDK's `ctx.stack.stack`). */
export function stackOf(ctx: RunContext): string[] {
  return Object.values(ctx.steps)
    .filter((s) => s.order !== undefined && s.stepId !== FN_STEP)
    .sort((a, b) => (a.order as number) - (b.order as number))
    .map((s) => s.stepId);
}
