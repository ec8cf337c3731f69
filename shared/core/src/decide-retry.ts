/**
 * How an attempt that failed is recorded: a retry after a backoff (`step.errored` and its timer),
 * or, out of attempts, the step's or the function's end. Shared by the answers to calls
 * (`decide-answer.ts`) and the ops in them (`decide-ops.ts`).
 */
import { backoffDelay } from "./backoff.ts";
import type { DueCall } from "./next-work.ts";
import type { RunContext } from "./run-context.ts";
import type { SerializedError } from "./schemas/error.ts";
import { FN_STEP, type NewRunLogEntry } from "./schemas/log.ts";

export interface DecideOptions {
  now: number;
  random: () => number;
  fixedRetryIntervalMs?: number;
  /** Last sequence of EVENTS when the answer arrived: a wait matches only later events. */
  eventsLastSeq?: number;
}

export const retryTimerId = (stepId: string, attempt: number): string => `retry-${stepId}-${attempt}`;

/** A retriable failure of the call's target: the step called by id, or the function. */
export function retryOrFail(
  ctx: RunContext,
  call: DueCall,
  error: SerializedError,
  opts: DecideOptions,
  retryAfterMs?: number,
): NewRunLogEntry[] {
  const stepId = call.stepId ?? FN_STEP;
  const step = ctx.steps[stepId];
  const name = step?.name ?? (stepId === FN_STEP ? "function" : stepId);
  return stepRetryOrFail(ctx, stepId, name, call.attempt, error, opts, retryAfterMs);
}

export function stepRetryOrFail(
  ctx: RunContext,
  stepId: string,
  name: string,
  attempt: number,
  error: SerializedError,
  opts: DecideOptions,
  retryAfterMs?: number,
): NewRunLogEntry[] {
  const ts = opts.now;
  const startedAt = ts;
  if (attempt + 1 >= ctx.maxAttempts) {
    if (stepId === FN_STEP) return [{ type: "run.failed", ts, error }];
    return [{ type: "step.failed", ts, stepId, name, error, attempt, startedAt }];
  }
  const delay = backoffDelay(
    attempt,
    { random: opts.random, fixedIntervalMs: opts.fixedRetryIntervalMs },
    retryAfterMs,
  );
  return [
    {
      type: "step.errored",
      ts,
      stepId,
      name,
      error,
      attempt,
      startedAt,
      retryAt: ts + delay,
      timerId: retryTimerId(stepId, attempt),
    },
  ];
}
