/**
 * What each step entry of the log does to the run's context: the run machine's `assign`s for
 * `running`, one function per entry type. Each returns the changed fields only (through
 * `withStep` / `withEndedStep`, so a batch of entries copies the steps once).
 */
import type { LogEntryOf, RunContext, StepState } from "./run-context.ts";
import { attemptOf, isTimed, withAttempt, withEndedStep, withStep } from "./run-steps.ts";
import { type SerializedError, toSerializedError } from "./schemas/error.ts";

/** `steps.planned`: each step is due by id (one in backoff stays there until its timer fires). */
export function planSteps(context: RunContext, event: LogEntryOf<"steps.planned">): RunContext {
  let ctx = context;
  for (const s of event.steps) {
    ctx = {
      ...ctx,
      ...withStep(ctx, s.stepId, (prev) => ({
        stepId: s.stepId,
        name: s.name,
        origin: "planned",
        status: prev?.status === "backoff" ? "backoff" : "planned",
        attempts: prev?.attempts ?? 0,
        ...(prev?.retryAt !== undefined ? { retryAt: prev.retryAt, timerId: prev.timerId } : {}),
        ...(prev?.history ? { history: prev.history } : {}),
      })),
    };
  }
  return ctx;
}

export function completeStep(ctx: RunContext, event: LogEntryOf<"step.completed">): Partial<RunContext> {
  return withEndedStep(ctx, event.stepId, (prev, order) => ({
    stepId: event.stepId,
    name: event.name,
    origin: prev?.origin ?? "discovered",
    status: "completed",
    attempts: event.attempt + 1,
    data: event.data,
    startedAt: event.startedAt,
    endedAt: event.ts,
    order,
    ...(event.compensable ? { compensable: true } : {}),
    ...(event.raw ? { memoRaw: true } : {}),
    ...(prev?.history ? { history: prev.history } : {}),
  }));
}

export function failStep(ctx: RunContext, event: LogEntryOf<"step.failed">): Partial<RunContext> {
  return withEndedStep(ctx, event.stepId, (prev, order) => ({
    stepId: event.stepId,
    name: event.name,
    origin: prev?.origin ?? "discovered",
    status: "failed",
    attempts: event.attempt + 1,
    error: event.error,
    startedAt: event.startedAt,
    endedAt: event.ts,
    order,
    history: withAttempt(prev, attemptOf(event)),
  }));
}

/** `step.errored`: the step waits in backoff for its retry timer. */
export function errorStep(ctx: RunContext, event: LogEntryOf<"step.errored">): Partial<RunContext> {
  return withStep(ctx, event.stepId, (prev) => ({
    stepId: event.stepId,
    name: event.name,
    origin: prev?.origin ?? "discovered",
    status: "backoff",
    attempts: event.attempt + 1,
    error: event.error,
    startedAt: prev?.startedAt ?? event.startedAt,
    retryAt: event.retryAt,
    timerId: event.timerId,
    history: withAttempt(prev, attemptOf(event)),
  }));
}

export function startSleep(ctx: RunContext, event: LogEntryOf<"sleep.started">): Partial<RunContext> {
  return withStep(ctx, event.stepId, () => ({
    stepId: event.stepId,
    name: event.name,
    origin: "discovered",
    status: "sleeping",
    attempts: 0,
    startedAt: event.ts,
    retryAt: event.until,
    until: event.until,
    timerId: event.timerId,
  }));
}

/** `wait.started`: a `step.waitForEvent`, or a `step.invoke` waiting for its target's end. */
export function startWait(ctx: RunContext, event: LogEntryOf<"wait.started">): Partial<RunContext> {
  return withStep(ctx, event.stepId, () => ({
    stepId: event.stepId,
    name: event.name,
    origin: "discovered",
    status: "waiting",
    attempts: 0,
    startedAt: event.ts,
    ...(event.timeoutAt !== undefined ? { retryAt: event.timeoutAt } : {}),
    ...(event.timerId !== undefined ? { timerId: event.timerId } : {}),
    wait: {
      event: event.event,
      afterSeq: event.afterSeq,
      ...(event.if ? { if: event.if } : {}),
      ...(event.invoke ? { invoke: event.invoke } : {}),
    },
  }));
}

/** `wait.matched`: the event ends the wait; an invoke ends with its target's result or error. */
export function matchWait(ctx: RunContext, event: LogEntryOf<"wait.matched">): Partial<RunContext> {
  return withEndedStep(ctx, event.stepId, (prev, order) => {
    const step = prev as StepState;
    const done = { ...step, endedAt: event.ts, order, retryAt: undefined, timerId: undefined };
    if (!step.wait?.invoke) return { ...done, status: "completed", memoRaw: true, data: event.event };
    // An invoke resolves with the target's result, or fails the step with its error.
    const error = event.event.data.error as SerializedError | undefined;
    const child = event.event.data.run_id;
    const invoked = typeof child === "string" ? { ...done, childRunId: child } : done;
    return error
      ? { ...invoked, status: "failed", error: toSerializedError(error) }
      : { ...invoked, status: "completed", data: event.event.data.result ?? null };
  });
}

/** Whether `timerId` is the timer of a step (its backoff, sleep or wait timeout). */
export function isStepTimer(ctx: RunContext, timerId: string): boolean {
  return Object.values(ctx.steps).some((s) => isTimed(s) && s.timerId === timerId);
}

/**
 * A step's timer fired: an invoke times out (failed), a sleep ends and a wait times out (both
 * completed, a wait with null), a backoff is over (the step is due again: called by id if
 * planned, else via discovery).
 */
export function fireStepTimer(ctx: RunContext, event: LogEntryOf<"timer.fired">): Partial<RunContext> {
  const step = Object.values(ctx.steps).find((s) => isTimed(s) && s.timerId === event.timerId) as StepState;
  if (step.status === "waiting" && step.wait?.invoke) {
    return withEndedStep(ctx, step.stepId, (_prev, order) => ({
      ...step,
      status: "failed",
      error: invokeTimeout(step),
      endedAt: event.ts,
      order,
      retryAt: undefined,
      timerId: undefined,
    }));
  }
  if (step.status === "sleeping" || step.status === "waiting") {
    return withEndedStep(ctx, step.stepId, (_prev, order) => ({
      ...step,
      status: "completed",
      memoRaw: true,
      data: null,
      endedAt: event.ts,
      order,
      retryAt: undefined,
      timerId: undefined,
    }));
  }
  return withStep(ctx, step.stepId, () => ({
    ...step,
    status: "planned",
    retryAt: undefined,
    timerId: undefined,
  }));
}

function invokeTimeout(step: StepState): SerializedError {
  return {
    name: "InngestInvokeTimeoutError",
    message: `step.invoke("${step.name}"): ${step.wait?.invoke?.functionId} did not finish in time`,
  };
}
