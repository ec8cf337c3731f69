/**
 * Durable endpoints (the official SDK v4's `inngest.endpoint`): a run that starts inside the app's
 * own HTTP request. While that request runs it (sync mode), the app reports what it did through
 * `POST /v1/checkpoint/:runId/steps`; this decides what such a report records.
 */
import { decideAnswer } from "./decide-answer.ts";
import { decideCheckpoint } from "./decide-report.ts";
import type { DecideOptions } from "./decide-retry.ts";
import { discoveryAttempt } from "./next-work.ts";
import type { RunContext } from "./run-context.ts";
import type { CheckpointStep } from "./schemas/checkpoint.ts";
import type { NewRunLogEntry } from "./schemas/log.ts";
import { OpCodes } from "./schemas/ops.ts";

/** The event a durable endpoint's run starts from (its data describes the HTTP request). */
export const HTTP_REQUEST_EVENT = "inngest/http.request";

const isCompleted = (s: CheckpointStep) => s.op === OpCodes.stepRun || s.op === OpCodes.step;
const isDefer = (s: CheckpointStep) => s.op === OpCodes.deferAdd || s.op === OpCodes.deferAbort;

/**
 * The entries a durable endpoint's report records, or why it cannot be taken:
 * - completed steps (`StepRun`) and defers: recorded (a step already final is left out, so a
 *   report the app sent again records nothing new);
 * - `RunComplete`: the run completed with the endpoint's response (`{status, headers, body}`);
 * - anything else (a sleep, a wait, an invoke, parallel steps, a step's or the function's error, a
 *   discovery request) ends sync mode (`endpoint.async`) and is recorded as the answer to a call
 *   would be: from then on the executor calls the endpoint to go on.
 * Once the run is async, only completed steps and the end are taken from reports (the app's
 * request may still be finishing one, or report again what it already did); the rest is ignored.
 */
export function decideEndpointSteps(
  ctx: RunContext,
  steps: readonly CheckpointStep[],
  opts: DecideOptions,
): NewRunLogEntry[] | string {
  if (!ctx.endpoint) return `run ${ctx.runId} is not a durable endpoint's run`;
  const complete = steps.find((s) => s.op === OpCodes.runComplete);
  const control = steps.filter((s) => !isCompleted(s) && !isDefer(s) && s.op !== OpCodes.runComplete);
  if (!ctx.endpoint.sync || control.length === 0) {
    const recorded = decideCheckpoint(
      ctx,
      steps.filter((s) => isCompleted(s) || isDefer(s)),
      opts.now,
    );
    if (typeof recorded === "string" || !complete) return recorded;
    return [...recorded, { type: "run.completed", ts: opts.now, output: complete.data ?? null }];
  }
  const fresh = steps.filter((s) => {
    const prev = ctx.steps[s.id];
    return !(isCompleted(s) && (prev?.status === "completed" || prev?.status === "failed"));
  });
  const reason = control.map((s) => s.op).join(", ");
  return [
    { type: "endpoint.async", ts: opts.now, reason: `the app switched the run to async (${reason})` },
    ...decideAnswer(ctx, { stepId: null, attempt: discoveryAttempt(ctx) }, { kind: "ops", ops: fresh }, opts),
  ];
}
