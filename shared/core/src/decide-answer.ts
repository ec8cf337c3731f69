/**
 * Which log entries an app's answer to one call turns into (`decideAnswer`): the run's result or
 * error, the ops it sent (`decide-ops.ts`), or a compensation's outcome. Pure: the clock and
 * randomness come in the options.
 */
import { backoffDelay } from "./backoff.ts";
import { decideOps } from "./decide-ops.ts";
import { type DecideOptions, retryOrFail } from "./decide-retry.ts";
import { compensableSteps, type DueCall } from "./next-work.ts";
import type { RunContext } from "./run-context.ts";
import type { SerializedError } from "./schemas/error.ts";
import type { NewRunLogEntry } from "./schemas/log.ts";
import { type Op, OpCodes } from "./schemas/ops.ts";

/** The app's answer to one call, already classified from HTTP (see parseAppResponse). */
/** `reqVersion`: the execution version the SDK says it used (`x-inngest-req-version`). */
export type AppAnswer =
  | { kind: "result"; data: unknown; reqVersion?: number }
  | { kind: "ops"; ops: Op[]; retryAfterMs?: number; reqVersion?: number }
  | { kind: "error"; error: SerializedError; noRetry: boolean; retryAfterMs?: number; reqVersion?: number }
  | { kind: "transport"; message: string; failure?: CallFailure };

/**
 * Why a call brought back no answer of the app's code: the app (or worker) was not reached or
 * timed out, refused the request's signature, answered something that is not the protocol, or
 * the executor would not call it. Metrics count failed calls by it.
 */
export type CallFailure =
  | "timeout"
  | "unreachable"
  | "signature"
  | "bad_response"
  | `http_${number}xx`
  | "refused";

/**
 * Turns the app's answer to `call` into log entries (without `n`). The executor appends them in
 * order and arms the timers `nextWork` then reports.
 */
export function decideAnswer(
  ctx: RunContext,
  call: DueCall,
  answer: AppAnswer,
  opts: DecideOptions,
): NewRunLogEntry[] {
  if (call.compensate) return decideCompensation(ctx, call, answer, opts);
  // A run with registered compensations does not just fail: it compensates first.
  const entries = decideRunAnswer(ctx, call, answer, opts).map((e): NewRunLogEntry => {
    if (e.type !== "run.failed") return e;
    const steps = compensableSteps(ctx);
    return steps.length > 0
      ? { type: "compensation.started", ts: e.ts, reason: "failed", error: e.error, steps }
      : e;
  });
  // The SDK chose (or changed) its execution version: later calls send it. Recorded first, so
  // it holds for the calls the other entries lead to.
  const version = answer.kind === "transport" ? undefined : answer.reqVersion;
  if (version !== undefined && version !== ctx.reqVersion)
    return [{ type: "run.versioned", ts: opts.now, version }, ...entries];
  return entries;
}

export const compensationTimerId = (stepId: string, attempt: number): string =>
  `compensate-${stepId}-${attempt}`;

/** The app's answer to a compensation call: done, retry with backoff, or failed for good. */
function decideCompensation(
  ctx: RunContext,
  call: DueCall,
  answer: AppAnswer,
  opts: DecideOptions,
): NewRunLogEntry[] {
  const ts = opts.now;
  const stepId = call.stepId as string;
  const attempt = call.attempt;
  let error: SerializedError;
  let noRetry = false;
  let retryAfterMs: number | undefined;
  switch (answer.kind) {
    case "ops": {
      const op = answer.ops.find((o) => o.id === stepId) ?? answer.ops[0];
      if (op?.op === OpCodes.stepRun) {
        return [
          { type: "compensation.completed", ts, stepId, data: op.data ?? null, attempt, startedAt: ts },
        ];
      }
      error = op?.error ?? {
        name: "CompensationError",
        message: `app answered op ${op?.op ?? "(none)"} to a compensation call`,
      };
      noRetry = op?.op === OpCodes.stepFailed;
      retryAfterMs = answer.retryAfterMs;
      break;
    }
    case "error":
      error = answer.error;
      noRetry = answer.noRetry;
      retryAfterMs = answer.retryAfterMs;
      break;
    case "transport":
      error = { name: "AppCallError", message: answer.message };
      break;
    case "result":
      error = {
        name: "CompensationError",
        message:
          "app finished the function instead of running the compensation (does its SDK support compensate=?)",
      };
      noRetry = true;
      break;
    default: {
      const _exhaustive: never = answer;
      return _exhaustive;
    }
  }
  if (noRetry || attempt + 1 >= ctx.maxAttempts) {
    return [{ type: "compensation.failed", ts, stepId, error, attempt, startedAt: ts }];
  }
  const delay = backoffDelay(
    attempt,
    { random: opts.random, fixedIntervalMs: opts.fixedRetryIntervalMs },
    retryAfterMs,
  );
  return [
    {
      type: "compensation.errored",
      ts,
      stepId,
      error,
      attempt,
      startedAt: ts,
      retryAt: ts + delay,
      timerId: compensationTimerId(stepId, attempt),
    },
  ];
}

function decideRunAnswer(
  ctx: RunContext,
  call: DueCall,
  answer: AppAnswer,
  opts: DecideOptions,
): NewRunLogEntry[] {
  const ts = opts.now;
  switch (answer.kind) {
    case "result":
      return [{ type: "run.completed", ts, output: answer.data ?? null }];
    case "error":
      if (answer.noRetry) return [{ type: "run.failed", ts, error: answer.error }];
      return retryOrFail(ctx, call, answer.error, opts, answer.retryAfterMs);
    case "transport":
      return retryOrFail(ctx, call, { name: "AppCallError", message: answer.message }, opts);
    case "ops":
      return decideOps(ctx, call, answer.ops, opts, answer.retryAfterMs);
    default: {
      const _exhaustive: never = answer;
      return _exhaustive;
    }
  }
}
