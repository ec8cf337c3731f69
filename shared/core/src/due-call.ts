/**
 * Whether a call computed earlier (by `nextWork`) is still due in the run's current state. A call
 * waits for slots, a throttle turn, or its partition's lease before it goes out; meanwhile the run
 * may have moved on (another executor recorded the step while this one's lease had lapsed, the run
 * was cancelled, the step's retry is a later attempt). Such a call must not go out.
 */
import { type DueCall, nextWork } from "./next-work.ts";
import type { RunSnapshot } from "./replay.ts";

export function isCallDue(snapshot: RunSnapshot, call: DueCall): boolean {
  const ctx = snapshot.context;
  if (call.compensate) {
    if (snapshot.value !== "compensating") return false;
    const open = ctx.compensation?.steps.find((c) => c.status === "pending" || c.status === "backoff");
    return open?.status === "pending" && open.stepId === call.stepId && open.attempts === call.attempt;
  }
  if (snapshot.value !== "running") return false;
  if (call.stepId === null) {
    // One discovery call per run at a time: computing the run's work once is cheap enough.
    return nextWork(snapshot).calls.some((c) => c.stepId === null && c.attempt === call.attempt);
  }
  // A planned step (a run may have thousands): checked on the step itself, as nextWork picks them.
  if (ctx.endpoint?.sync || ctx.startAt !== undefined) return false;
  const step = ctx.steps[call.stepId];
  return step?.origin === "planned" && step.status === "planned" && step.attempts === call.attempt;
}
