/**
 * What a checkpoint records: the steps the app ran and reported itself, between calls (durable
 * endpoints' reports build on it, in endpoint.ts).
 */
import { decideDefers } from "./decide-defers.ts";
import { isDeferOp, stepIdProblem } from "./op-fields.ts";
import type { RunContext } from "./run-context.ts";
import type { CheckpointStep } from "./schemas/checkpoint.ts";
import type { NewRunLogEntry } from "./schemas/log.ts";
import { OpCodes } from "./schemas/ops.ts";

/**
 * The entries a checkpoint records: each step the app ran in a checkpointed call, completed. Only
 * `StepRun` may come this way (failures, sleeps, waits, invokes and parallel steps come in the
 * call's answer, as ever); anything else is refused with a message. A step already final is left
 * out, so a checkpoint the app sent again (its first copy recorded, the ack lost) records nothing.
 */
export function decideCheckpoint(
  ctx: RunContext,
  steps: readonly CheckpointStep[],
  now: number,
): NewRunLogEntry[] | string {
  const out: NewRunLogEntry[] = [];
  const seen = new Set<string>();
  for (const s of steps) {
    const badId = stepIdProblem(s.id);
    if (badId) return `steps: ${badId}`;
    if (isDeferOp(s)) continue;
    if (s.op !== OpCodes.stepRun && s.op !== OpCodes.step)
      return `a checkpoint carries only completed steps (StepRun) and defers (DeferAdd, DeferAbort), not "${s.op}" (step ${s.id})`;
    const prev = ctx.steps[s.id];
    if (prev?.status === "completed" || prev?.status === "failed" || seen.has(s.id)) continue;
    seen.add(s.id);
    // The official SDK reports when the step ran, in nanoseconds since the epoch.
    const startedNs = s.timing?.a;
    out.push({
      type: "step.completed",
      ts: now,
      stepId: s.id,
      name: s.displayName ?? s.name ?? s.id,
      data: s.data ?? null,
      attempt: prev?.attempts ?? 0,
      startedAt: typeof startedNs === "number" && startedNs > 0 ? Math.floor(startedNs / 1e6) : now,
      ...(s.opts?.compensable === true ? { compensable: true } : {}),
    });
  }
  return [...decideDefers(ctx, steps, now), ...out];
}
