/**
 * The run as an XState v5 machine. Its events are the entries of the run's log; its context is
 * everything the executor needs to decide the next effect (the memo of steps, attempts, pending
 * timers). The machine performs no effects: `replay` folds a log with xstate's pure `transition`,
 * and `nextWork` (next-work.ts) reads the snapshot to say what to do next.
 *
 * Lifecycle: empty → running → completed | failed | cancelled, or running → compensating →
 * compensated | compensation_failed. Backoff and sleeps are tracked per step inside `running`
 * (parallel steps can be in different phases at once); `phaseOf` (run-status.ts) derives the
 * user-facing phase.
 *
 * This file holds the machine's shape: which entry is accepted in which state, and under which
 * guard. What an entry does to the context is in `run-step-events.ts` (steps),
 * `run-compensation.ts` (compensations) and below (the run itself, its defers); the context's
 * types are in `run-context.ts`.
 */
import { assign, setup } from "xstate";
import {
  compensable,
  compensationDone,
  compensationFailed,
  compensationOpen,
  completeCompensation,
  errorCompensation,
  failCompensation,
  fireCompensationTimer,
  isCompensationTimer,
  lastCompensationEnd,
  startCompensation,
} from "./run-compensation.ts";
import {
  type DeferState,
  type EndpointState,
  emptyContext,
  endpointSyncTimer,
  type LogEntryOf,
  type RunContext,
  scheduledContext,
  THROTTLE_TIMER,
  TIMEOUT_FINISH,
  TIMEOUT_START,
} from "./run-context.ts";
import {
  completeStep,
  errorStep,
  failStep,
  fireStepTimer,
  isStepTimer,
  matchWait,
  planSteps,
  startSleep,
  startWait,
} from "./run-step-events.ts";
import { isFinal } from "./run-steps.ts";
import { FN_STEP, type RunLogEntry } from "./schemas/log.ts";

export {
  type AttemptRecord,
  type Compensation,
  type CompensationState,
  type CompensationStatus,
  type DeferState,
  ENDPOINT_SYNC_TIMER,
  endpointSyncTimer,
  type InvokeSpec,
  type RunContext,
  type StepState,
  type StepStatus,
  THROTTLE_TIMER,
  TIMEOUT_FINISH,
  TIMEOUT_START,
  type WaitSpec,
} from "./run-context.ts";
export { isActive, phaseOf, publicStatus, type RunPhase, type RunStatus } from "./run-status.ts";
export { inBatch } from "./run-steps.ts";
export { FN_STEP };

/** `defer.added`: the defer is scheduled, or recorded as rejected with the reason. */
function addDefer(ctx: RunContext, event: LogEntryOf<"defer.added">): Partial<RunContext> {
  return {
    defers: {
      ...ctx.defers,
      [event.deferId]: {
        deferId: event.deferId,
        name: event.name,
        fnSlug: event.fnSlug,
        ...(event.rejected !== undefined
          ? { status: "rejected" as const, reason: event.rejected }
          : { status: "scheduled" as const, input: event.input ?? {} }),
        ...(event.meta ? { meta: event.meta } : {}),
      },
    },
  };
}

/** `defer.aborted`: the defer is no longer sent (its input is dropped). */
function abortDefer(ctx: RunContext, event: LogEntryOf<"defer.aborted">): Partial<RunContext> {
  const { input: _dropped, ...was } = (ctx.defers as Record<string, DeferState>)[event.deferId] as DeferState;
  return { defers: { ...ctx.defers, [event.deferId]: { ...was, status: "aborted" as const } } };
}

/** A durable endpoint run leaves sync mode: the executor calls it from now on. */
const endSync = (ctx: RunContext): Partial<RunContext> => ({
  endpoint: { ...(ctx.endpoint as EndpointState), sync: false },
});

export const runMachine = setup({
  types: {
    context: {} as RunContext,
    events: {} as RunLogEntry,
  },
  guards: {
    stepOpen: ({ context, event }) => {
      const e = event as LogEntryOf<"step.completed" | "step.failed" | "step.errored" | "sleep.started">;
      return !isFinal(context.steps[e.stepId]);
    },
    plannedAreNew: ({ context, event }) =>
      (event as LogEntryOf<"steps.planned">).steps.every((s) => !isFinal(context.steps[s.stepId])),
    timerPending: ({ context, event }) => isStepTimer(context, (event as LogEntryOf<"timer.fired">).timerId),
    waiting: ({ context, event }) =>
      context.steps[(event as LogEntryOf<"wait.matched">).stepId]?.status === "waiting",
    deferNew: ({ context, event }) =>
      context.defers?.[(event as LogEntryOf<"defer.added">).deferId] === undefined,
    deferScheduled: ({ context, event }) =>
      context.defers?.[(event as LogEntryOf<"defer.aborted">).deferId]?.status === "scheduled",
  },
  actions: {
    count: assign(({ event }) => ({ lastN: event.n })),
  },
}).createMachine({
  id: "run",
  initial: "empty",
  context: emptyContext,
  states: {
    empty: {
      on: {
        "run.scheduled": { target: "running", actions: assign(({ event }) => scheduledContext(event)) },
      },
    },
    running: {
      on: {
        "steps.planned": {
          guard: "plannedAreNew",
          actions: [assign(({ context, event }) => planSteps(context, event)), "count"],
        },
        "step.completed": {
          guard: "stepOpen",
          actions: [assign(({ context, event }) => completeStep(context, event)), "count"],
        },
        "step.failed": {
          guard: "stepOpen",
          actions: [assign(({ context, event }) => failStep(context, event)), "count"],
        },
        "step.errored": {
          guard: "stepOpen",
          actions: [assign(({ context, event }) => errorStep(context, event)), "count"],
        },
        "sleep.started": {
          guard: "stepOpen",
          actions: [assign(({ context, event }) => startSleep(context, event)), "count"],
        },
        "wait.started": {
          guard: "stepOpen",
          actions: [assign(({ context, event }) => startWait(context, event)), "count"],
        },
        "wait.matched": {
          guard: "waiting",
          actions: [assign(({ context, event }) => matchWait(context, event)), "count"],
        },
        "timer.fired": [
          {
            guard: ({ context, event }) => event.timerId === THROTTLE_TIMER && context.startAt !== undefined,
            actions: [assign({ startAt: undefined }), "count"],
          },
          {
            // A sync endpoint run not heard from in time: the executor goes on calling it.
            guard: ({ context, event }) => event.timerId === endpointSyncTimer(context)?.timerId,
            actions: [assign(({ context }) => endSync(context)), "count"],
          },
          {
            guard: ({ context, event }) =>
              event.timerId === TIMEOUT_FINISH && context.timeouts?.finishAfterMs !== undefined,
            target: "cancelled",
            actions: [
              assign(({ context, event }) => ({
                cancelReason: `timed out: not finished within ${context.timeouts?.finish} (timeouts.finish)`,
                endedAt: event.ts,
              })),
              "count",
            ],
          },
          {
            guard: ({ context, event }) =>
              event.timerId === TIMEOUT_START && context.timeouts?.startBy !== undefined && !context.started,
            target: "cancelled",
            actions: [
              assign(({ context, event }) => ({
                cancelReason: `timed out: not started within ${context.timeouts?.start} (timeouts.start)`,
                endedAt: event.ts,
              })),
              "count",
            ],
          },
          {
            // The run started in time: the start deadline is over.
            guard: ({ context, event }) =>
              event.timerId === TIMEOUT_START && context.timeouts?.startBy !== undefined,
            actions: [
              assign(({ context }) => ({ timeouts: { ...context.timeouts, startBy: undefined } })),
              "count",
            ],
          },
          {
            guard: "timerPending",
            actions: [assign(({ context, event }) => fireStepTimer(context, event)), "count"],
          },
        ],
        "run.completed": {
          target: "completed",
          actions: [assign(({ event }) => ({ output: event.output, endedAt: event.ts })), "count"],
        },
        "run.failed": {
          target: "failed",
          actions: [assign(({ event }) => ({ error: event.error, endedAt: event.ts })), "count"],
        },
        "run.cancelled": {
          target: "cancelled",
          actions: [assign(({ event }) => ({ cancelReason: event.reason, endedAt: event.ts })), "count"],
        },
        "run.versioned": {
          actions: [assign(({ event }) => ({ reqVersion: event.version })), "count"],
        },
        "endpoint.async": {
          guard: ({ context }) => context.endpoint?.sync === true,
          actions: [assign(({ context }) => endSync(context)), "count"],
        },
        "defer.added": {
          guard: "deferNew",
          actions: [assign(({ context, event }) => addDefer(context, event)), "count"],
        },
        "defer.aborted": {
          guard: "deferScheduled",
          actions: [assign(({ context, event }) => abortDefer(context, event)), "count"],
        },
        "compensation.started": {
          guard: ({ context, event }) => compensable(context, event),
          target: "compensating",
          actions: [assign(({ context, event }) => startCompensation(context, event)), "count"],
        },
      },
    },
    compensating: {
      always: [
        {
          guard: ({ context }) => compensationDone(context) && compensationFailed(context),
          target: "compensation_failed",
        },
        { guard: ({ context }) => compensationDone(context), target: "compensated" },
      ],
      on: {
        "compensation.completed": {
          guard: ({ context, event }) => compensationOpen(context, event.stepId),
          actions: [assign(({ context, event }) => completeCompensation(context, event)), "count"],
        },
        "compensation.errored": {
          guard: ({ context, event }) => compensationOpen(context, event.stepId),
          actions: [assign(({ context, event }) => errorCompensation(context, event)), "count"],
        },
        "compensation.failed": {
          guard: ({ context, event }) => compensationOpen(context, event.stepId),
          actions: [assign(({ context, event }) => failCompensation(context, event)), "count"],
        },
        "timer.fired": {
          guard: ({ context, event }) => isCompensationTimer(context, event.timerId),
          actions: [assign(({ context, event }) => fireCompensationTimer(context, event)), "count"],
        },
      },
    },
    compensated: {
      type: "final",
      entry: assign(({ context }) => ({ endedAt: lastCompensationEnd(context) })),
    },
    compensation_failed: {
      type: "final",
      entry: assign(({ context }) => ({ endedAt: lastCompensationEnd(context) })),
    },
    completed: { type: "final" },
    failed: { type: "final" },
    cancelled: { type: "final" },
  },
});
