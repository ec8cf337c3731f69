/**
 * How the run machine updates its steps: every change goes through `withStep`, which copies the
 * run's `steps` and `stepOrder` once per batch of entries (`inBatch`) rather than once per entry.
 * The transitions themselves are in `run-step-events.ts`.
 */
import type { AttemptRecord, LogEntryOf, RunContext, StepState } from "./run-context.ts";
import { FN_STEP } from "./schemas/log.ts";

/**
 * Copies made while applying a batch of entries (`inBatch`): the first change in a batch copies the
 * run's `steps` and `stepOrder`, later changes in the same batch update those copies in place.
 * Applying k entries to a run with N steps then costs O(N + k), not O(N·k) (a fan-out's 10,000
 * waits were quadratic). Snapshots from before the batch are never touched; the intermediate
 * states inside a batch share the copies and are not to be kept.
 */
let batch: { steps?: Record<string, StepState>; order?: string[] } | undefined;

/** Runs `fn` (which applies entries and keeps only the last state) as one batch; see `batch`. */
export function inBatch<T>(fn: () => T): T {
  const outer = batch;
  batch = {};
  try {
    return fn();
  } finally {
    batch = outer;
  }
}

/**
 * The context's `steps` and `stepOrder` with step `stepId` replaced by `patch(prev)`, and
 * `finished` when given (one object per applied entry: this is the hot path of replay).
 */
export function withStep(
  ctx: RunContext,
  stepId: string,
  patch: (prev: StepState | undefined) => StepState,
  finished?: number,
): Partial<RunContext> {
  const prev = ctx.steps[stepId];
  let steps: Record<string, StepState>;
  if (batch && batch.steps === ctx.steps) steps = ctx.steps;
  else {
    steps = { ...ctx.steps };
    if (batch) batch.steps = steps;
  }
  steps[stepId] = patch(prev);
  let stepOrder = ctx.stepOrder;
  if (!prev) {
    if (batch && batch.order === stepOrder) stepOrder.push(stepId);
    else {
      stepOrder = [...stepOrder, stepId];
      if (batch) batch.order = stepOrder;
    }
  }
  // A function-level retry that is due is settled by any progress of a real step.
  if (stepId !== FN_STEP && steps[FN_STEP]?.status === "planned") {
    delete steps[FN_STEP];
    stepOrder = stepOrder.filter((id) => id !== FN_STEP);
    if (batch) batch.order = stepOrder;
  }
  return finished === undefined
    ? { steps, stepOrder, started: true }
    : { steps, stepOrder, started: true, finished };
}

/**
 * Like `withStep` for a step reaching a final status: `patch` gets the step's place in the
 * completion order (`order`), and the run counts one more finished step.
 */
export function withEndedStep(
  ctx: RunContext,
  stepId: string,
  patch: (prev: StepState | undefined, order: number) => StepState,
): Partial<RunContext> {
  const order = ctx.finished + 1;
  return withStep(ctx, stepId, (prev) => patch(prev, order), order);
}

/** At most this many attempts are kept per step (the first and the latest ones). */
const MAX_HISTORY = 25;

/** The step's attempt history with `record` added (bounded by `MAX_HISTORY`). */
export function withAttempt(prev: StepState | undefined, record: AttemptRecord): AttemptRecord[] {
  const history = [...(prev?.history ?? []), record];
  return history.length > MAX_HISTORY
    ? [history[0] as AttemptRecord, ...history.slice(-(MAX_HISTORY - 1))]
    : history;
}

/** The attempt a `step.failed` (the last one) or a `step.errored` (with the retry it led to) ended. */
export function attemptOf(event: LogEntryOf<"step.failed" | "step.errored">): AttemptRecord {
  const { attempt, error, startedAt, ts: endedAt } = event;
  return event.type === "step.errored"
    ? { attempt, error, startedAt, endedAt, retryAt: event.retryAt }
    : { attempt, error, startedAt, endedAt };
}

/** Whether the step waits on a timer (or, waiting for an event, on a match). */
export function isTimed(step: StepState): boolean {
  return step.status === "backoff" || step.status === "sleeping" || step.status === "waiting";
}

/** Whether the step reached a final status (completed or failed). */
export function isFinal(step: StepState | undefined): boolean {
  return step?.status === "completed" || step?.status === "failed";
}
