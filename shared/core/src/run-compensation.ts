/**
 * A compensating run in the run machine: `compensation.started` lists the compensations to run,
 * and each `compensation.*` entry updates one of them. The run is over (compensated, or
 * compensation_failed) once every compensation is final.
 */
import type { Compensation, CompensationState, LogEntryOf, RunContext } from "./run-context.ts";

/** Whether compensation `stepId` is still to run (pending, or in backoff). */
export function compensationOpen(ctx: RunContext, stepId: string): boolean {
  const c = ctx.compensation?.steps.find((x) => x.stepId === stepId);
  return c !== undefined && c.status !== "completed" && c.status !== "failed";
}

export function compensationDone(ctx: RunContext): boolean {
  return ctx.compensation?.steps.every((c) => c.status === "completed" || c.status === "failed") === true;
}

export function compensationFailed(ctx: RunContext): boolean {
  return ctx.compensation?.steps.some((c) => c.status === "failed") === true;
}

/** When a compensated run ended: when its last compensation did. */
export function lastCompensationEnd(ctx: RunContext): number | undefined {
  return Math.max(...(ctx.compensation?.steps.map((c) => c.endedAt ?? 0) ?? [0]));
}

/** Whether `compensation.started` names only steps that registered a compensation. */
export function compensable(ctx: RunContext, event: LogEntryOf<"compensation.started">): boolean {
  return event.steps.every((id) => ctx.steps[id]?.compensable === true);
}

/** `compensation.started`: the run keeps why it compensates, and its compensations are pending. */
export function startCompensation(
  ctx: RunContext,
  event: LogEntryOf<"compensation.started">,
): Partial<RunContext> {
  return {
    ...(event.error ? { error: event.error } : {}),
    ...(event.cancelReason ? { cancelReason: event.cancelReason } : {}),
    compensation: {
      reason: event.reason,
      steps: event.steps.map((id) => ({
        stepId: id,
        name: ctx.steps[id]?.name ?? id,
        status: "pending" as const,
        attempts: 0,
      })),
    },
  };
}

function withCompensation(
  ctx: RunContext,
  stepId: string,
  patch: (c: CompensationState) => CompensationState,
): Partial<RunContext> {
  const comp = ctx.compensation as Compensation;
  return { compensation: { ...comp, steps: comp.steps.map((c) => (c.stepId === stepId ? patch(c) : c)) } };
}

export function completeCompensation(
  ctx: RunContext,
  event: LogEntryOf<"compensation.completed">,
): Partial<RunContext> {
  return withCompensation(ctx, event.stepId, (c) => ({
    ...c,
    status: "completed",
    attempts: event.attempt + 1,
    data: event.data,
    startedAt: c.startedAt ?? event.startedAt,
    endedAt: event.ts,
    retryAt: undefined,
    timerId: undefined,
  }));
}

export function failCompensation(
  ctx: RunContext,
  event: LogEntryOf<"compensation.failed">,
): Partial<RunContext> {
  return withCompensation(ctx, event.stepId, (c) => ({
    ...c,
    status: "failed",
    attempts: event.attempt + 1,
    error: event.error,
    startedAt: c.startedAt ?? event.startedAt,
    endedAt: event.ts,
    retryAt: undefined,
    timerId: undefined,
  }));
}

/** `compensation.errored`: the compensation waits in backoff for its retry timer. */
export function errorCompensation(
  ctx: RunContext,
  event: LogEntryOf<"compensation.errored">,
): Partial<RunContext> {
  return withCompensation(ctx, event.stepId, (c) => ({
    ...c,
    status: "backoff",
    attempts: event.attempt + 1,
    error: event.error,
    startedAt: c.startedAt ?? event.startedAt,
    retryAt: event.retryAt,
    timerId: event.timerId,
  }));
}

/** Whether `timerId` is the retry timer of a compensation in backoff. */
export function isCompensationTimer(ctx: RunContext, timerId: string): boolean {
  return ctx.compensation?.steps.some((c) => c.status === "backoff" && c.timerId === timerId) === true;
}

/** A compensation's retry timer fired: it is due again. */
export function fireCompensationTimer(
  ctx: RunContext,
  event: LogEntryOf<"timer.fired">,
): Partial<RunContext> {
  const c = ctx.compensation?.steps.find((x) => x.timerId === event.timerId) as CompensationState;
  return withCompensation(ctx, c.stepId, (x) => ({
    ...x,
    status: "pending",
    retryAt: undefined,
    timerId: undefined,
  }));
}
