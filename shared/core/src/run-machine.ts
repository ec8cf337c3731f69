/**
 * The run as an XState v5 machine. Its events are the entries of the run's log; its context is
 * everything the executor needs to decide the next effect (the memo of steps, attempts, pending
 * timers). The machine performs no effects: `replay` folds a log with xstate's pure `transition`,
 * and `nextWork` (decide.ts) reads the snapshot to say what to do next.
 *
 * Lifecycle: empty → running → completed | failed | cancelled. Backoff and sleeps are tracked per
 * step inside `running` (parallel steps can be in different phases at once); `phaseOf` derives the
 * user-facing phase.
 */
import { assign, setup } from "xstate";
import { type SerializedError, toSerializedError } from "./schemas/error.ts";
import type { StoredEvent } from "./schemas/event.ts";
import { FN_STEP, type RunLogEntry } from "./schemas/log.ts";
import { type RunSpec, runSpecOf, runTimeouts } from "./schemas/run-spec.ts";
import type { StoredEventMeta } from "./sessions.ts";

/** Timer ids of the run-level deadlines (`timeouts`). */
export const TIMEOUT_START = "timeout-start";
export const TIMEOUT_FINISH = "timeout-finish";
/** Timer id of a throttled run's start. */
export const THROTTLE_TIMER = "throttle";

export type StepStatus = "planned" | "backoff" | "sleeping" | "waiting" | "completed" | "failed";

/** An open `step.waitForEvent`. */
export interface WaitSpec {
  event: string;
  if?: string;
  afterSeq: number;
  /** Set for `step.invoke`: the wait is for the target's `inngest/function.finished`. */
  invoke?: InvokeSpec;
}

/** A `step.invoke` in flight: the `inngest/function.invoked` event to send, and its correlation id. */
export interface InvokeSpec {
  functionId: string;
  data: Record<string, unknown>;
  correlationId: string;
  meta?: StoredEventMeta;
  user?: Record<string, unknown>;
}

export interface StepState {
  stepId: string;
  name: string;
  /** How the step came to be: found alone in discovery, or planned in parallel and called by id. */
  origin: "discovered" | "planned";
  status: StepStatus;
  /** Attempts made so far (failed ones included). */
  attempts: number;
  data?: unknown;
  error?: SerializedError;
  startedAt?: number;
  endedAt?: number;
  retryAt?: number;
  timerId?: string;
  /** Order in which the step reached a final status. */
  order?: number;
  /** Whether the memo holds `data` itself (sleeps: null; waits: the event or null) rather than `{data}`. */
  memoRaw?: boolean;
  wait?: WaitSpec;
  /** The step registered a saga compensation. */
  compensable?: boolean;
  /** An invoke: the run of the invoked function (from its `inngest/function.finished`). */
  childRunId?: string;
  /** Attempts that errored before the current one, each with its error and the retry it led to. */
  history?: AttemptRecord[];
}

/** One errored attempt of a step (`step.errored`, or the last one, `step.failed`). */
export interface AttemptRecord {
  attempt: number;
  error: SerializedError;
  startedAt: number;
  endedAt: number;
  /** When the next attempt was due (absent for the last one). */
  retryAt?: number;
}

/** At most this many attempts are kept per step (the first and the latest ones). */
const MAX_HISTORY = 25;

function withAttempt(prev: StepState | undefined, record: AttemptRecord): AttemptRecord[] {
  const history = [...(prev?.history ?? []), record];
  return history.length > MAX_HISTORY
    ? [history[0] as AttemptRecord, ...history.slice(-(MAX_HISTORY - 1))]
    : history;
}

/** A `defer()` of the run: sent as `inngest/deferred.schedule` when the run ends, if still `scheduled`. */
export interface DeferState {
  deferId: string;
  name: string;
  fnSlug: string;
  status: "scheduled" | "aborted" | "rejected";
  input?: Record<string, unknown>;
  meta?: StoredEventMeta;
  /** Why a `rejected` defer was refused. */
  reason?: string;
}

export type CompensationStatus = "pending" | "backoff" | "completed" | "failed";

/** One compensation of a compensating run. */
export interface CompensationState {
  stepId: string;
  name: string;
  status: CompensationStatus;
  attempts: number;
  data?: unknown;
  error?: SerializedError;
  startedAt?: number;
  endedAt?: number;
  retryAt?: number;
  timerId?: string;
}

export interface Compensation {
  reason: "failed" | "cancelled";
  /** In execution order (reverse order of the steps' completion). */
  steps: CompensationState[];
}

/**
 * The run's state: its spec (`run-spec.ts`) under the names the start command and `run.scheduled`
 * gave it, and what its log has recorded since. Two spec fields change as the run goes on: `startAt`
 * is cleared when the throttle timer fires, `timeouts.startBy` once the run has started in time.
 */
export interface RunContext extends Omit<RunSpec, "event" | "endpoint"> {
  partition: number;
  /** The triggering event (`null` only before `run.scheduled`). */
  event: StoredEvent | null;
  createdAt: number;
  endedAt?: number;
  steps: Record<string, StepState>;
  /** Step ids in the order they were first seen. */
  stepOrder: string[];
  finished: number;
  output?: unknown;
  error?: SerializedError;
  cancelReason?: string;
  compensation?: Compensation;
  /** Whether the app has answered at least once (for `timeouts.start`). */
  started?: boolean;
  /** The execution version the SDK answered with (`run.versioned`); calls send -1 before. */
  reqVersion?: number;
  /** The run's `defer()`s by the SDK's hashed id, in the order they were added. */
  defers?: Record<string, DeferState>;
  /** A durable endpoint's run; `sync` while the app's own request runs it (no calls). */
  endpoint?: { sync: boolean; tokenHash: string; syncTimeoutMs: number };
  /** Number of applied log entries (the `n` of the last one). */
  lastN: number;
}

type EndpointState = NonNullable<RunContext["endpoint"]>;

/** Prefix of the timer that ends a durable endpoint run's sync mode when the app goes quiet. */
export const ENDPOINT_SYNC_TIMER = "endpoint-sync";

/**
 * The timer that ends sync mode: `syncTimeoutMs` after the run's latest progress (its start or a
 * step that ended). Its id names its time, so a later report makes a new timer and the earlier
 * one fires for nothing.
 */
export function endpointSyncTimer(ctx: RunContext): { timerId: string; fireAt: number } | undefined {
  if (!ctx.endpoint?.sync) return undefined;
  let last = ctx.createdAt;
  for (const s of Object.values(ctx.steps)) if (s.endedAt !== undefined && s.endedAt > last) last = s.endedAt;
  const fireAt = last + ctx.endpoint.syncTimeoutMs;
  return { timerId: `${ENDPOINT_SYNC_TIMER}-${fireAt}`, fireAt };
}

/** `run.scheduled`'s timeouts in today's form (entries written before run specs had `finishBy`). */
function timeoutsOf(event: E<"run.scheduled">): Pick<RunContext, "timeouts"> {
  const timeouts = runTimeouts(event.timeouts, event.event.ts, event.ts);
  return timeouts ? { timeouts } : {};
}

const emptyContext = (): RunContext => ({
  runId: "",
  fnId: "",
  appId: "",
  url: "",
  maxAttempts: 1,
  partition: 0,
  event: null,
  events: [],
  createdAt: 0,
  steps: {},
  stepOrder: [],
  finished: 0,
  lastN: 0,
});

type E<T extends RunLogEntry["type"]> = Extract<RunLogEntry, { type: T }>;

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

function withStep(
  ctx: RunContext,
  stepId: string,
  patch: (prev: StepState | undefined) => StepState,
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
  return { steps, stepOrder, started: true };
}

function compensationOpen(ctx: RunContext, stepId: string): boolean {
  const c = ctx.compensation?.steps.find((x) => x.stepId === stepId);
  return c !== undefined && c.status !== "completed" && c.status !== "failed";
}

function compensationDone(ctx: RunContext): boolean {
  return ctx.compensation?.steps.every((c) => c.status === "completed" || c.status === "failed") === true;
}

function compensationFailed(ctx: RunContext): boolean {
  return ctx.compensation?.steps.some((c) => c.status === "failed") === true;
}

function lastCompensationEnd(ctx: RunContext): number | undefined {
  return Math.max(...(ctx.compensation?.steps.map((c) => c.endedAt ?? 0) ?? [0]));
}

function withCompensation(
  ctx: RunContext,
  stepId: string,
  patch: (c: CompensationState) => CompensationState,
): Partial<RunContext> {
  const comp = ctx.compensation as Compensation;
  return { compensation: { ...comp, steps: comp.steps.map((c) => (c.stepId === stepId ? patch(c) : c)) } };
}

function isTimed(step: StepState): boolean {
  return step.status === "backoff" || step.status === "sleeping" || step.status === "waiting";
}

function isFinal(step: StepState | undefined): boolean {
  return step?.status === "completed" || step?.status === "failed";
}

export const runMachine = setup({
  types: {
    context: {} as RunContext,
    events: {} as RunLogEntry,
  },
  guards: {
    stepOpen: ({ context, event }) => {
      const e = event as E<"step.completed" | "step.failed" | "step.errored" | "sleep.started">;
      return !isFinal(context.steps[e.stepId]);
    },
    plannedAreNew: ({ context, event }) =>
      (event as E<"steps.planned">).steps.every((s) => !isFinal(context.steps[s.stepId])),
    timerPending: ({ context, event }) => {
      const id = (event as E<"timer.fired">).timerId;
      return Object.values(context.steps).some((s) => isTimed(s) && s.timerId === id);
    },
    waiting: ({ context, event }) => context.steps[(event as E<"wait.matched">).stepId]?.status === "waiting",
    deferNew: ({ context, event }) => context.defers?.[(event as E<"defer.added">).deferId] === undefined,
    deferScheduled: ({ context, event }) =>
      context.defers?.[(event as E<"defer.aborted">).deferId]?.status === "scheduled",
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
        "run.scheduled": {
          target: "running",
          actions: assign(({ event }) => {
            const { endpoint, ...spec } = runSpecOf(event);
            return {
              ...emptyContext(),
              ...spec,
              partition: event.partition,
              ...timeoutsOf(event),
              ...(endpoint ? { endpoint: { ...endpoint, sync: true } } : {}),
              createdAt: event.ts,
              lastN: event.n,
            };
          }),
        },
      },
    },
    running: {
      on: {
        "steps.planned": {
          guard: "plannedAreNew",
          actions: [
            assign(({ context, event }) => {
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
            }),
            "count",
          ],
        },
        "step.completed": {
          guard: "stepOpen",
          actions: [
            assign(({ context, event }) => ({
              ...withStep(context, event.stepId, (prev) => ({
                stepId: event.stepId,
                name: event.name,
                origin: prev?.origin ?? "discovered",
                status: "completed",
                attempts: event.attempt + 1,
                data: event.data,
                startedAt: event.startedAt,
                endedAt: event.ts,
                order: context.finished + 1,
                ...(event.compensable ? { compensable: true } : {}),
                ...(prev?.history ? { history: prev.history } : {}),
              })),
              finished: context.finished + 1,
            })),
            "count",
          ],
        },
        "step.failed": {
          guard: "stepOpen",
          actions: [
            assign(({ context, event }) => ({
              ...withStep(context, event.stepId, (prev) => ({
                stepId: event.stepId,
                name: event.name,
                origin: prev?.origin ?? "discovered",
                status: "failed",
                attempts: event.attempt + 1,
                error: event.error,
                startedAt: event.startedAt,
                endedAt: event.ts,
                order: context.finished + 1,
                history: withAttempt(prev, {
                  attempt: event.attempt,
                  error: event.error,
                  startedAt: event.startedAt,
                  endedAt: event.ts,
                }),
              })),
              finished: context.finished + 1,
            })),
            "count",
          ],
        },
        "step.errored": {
          guard: "stepOpen",
          actions: [
            assign(({ context, event }) =>
              withStep(context, event.stepId, (prev) => ({
                stepId: event.stepId,
                name: event.name,
                origin: prev?.origin ?? "discovered",
                status: "backoff",
                attempts: event.attempt + 1,
                error: event.error,
                startedAt: prev?.startedAt ?? event.startedAt,
                retryAt: event.retryAt,
                timerId: event.timerId,
                history: withAttempt(prev, {
                  attempt: event.attempt,
                  error: event.error,
                  startedAt: event.startedAt,
                  endedAt: event.ts,
                  retryAt: event.retryAt,
                }),
              })),
            ),
            "count",
          ],
        },
        "sleep.started": {
          guard: "stepOpen",
          actions: [
            assign(({ context, event }) =>
              withStep(context, event.stepId, () => ({
                stepId: event.stepId,
                name: event.name,
                origin: "discovered",
                status: "sleeping",
                attempts: 0,
                startedAt: event.ts,
                retryAt: event.until,
                timerId: event.timerId,
              })),
            ),
            "count",
          ],
        },
        "wait.started": {
          guard: "stepOpen",
          actions: [
            assign(({ context, event }) =>
              withStep(context, event.stepId, () => ({
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
              })),
            ),
            "count",
          ],
        },
        "wait.matched": {
          guard: "waiting",
          actions: [
            assign(({ context, event }) => ({
              ...withStep(context, event.stepId, (prev) => {
                const step = prev as StepState;
                const done = {
                  ...step,
                  endedAt: event.ts,
                  order: context.finished + 1,
                  retryAt: undefined,
                  timerId: undefined,
                };
                if (!step.wait?.invoke)
                  return { ...done, status: "completed", memoRaw: true, data: event.event };
                // An invoke resolves with the target's result, or fails the step with its error.
                const error = event.event.data.error as SerializedError | undefined;
                const child = event.event.data.run_id;
                const invoked = typeof child === "string" ? { ...done, childRunId: child } : done;
                return error
                  ? { ...invoked, status: "failed", error: toSerializedError(error) }
                  : { ...invoked, status: "completed", data: event.event.data.result ?? null };
              }),
              finished: context.finished + 1,
            })),
            "count",
          ],
        },
        "timer.fired": [
          {
            guard: ({ context, event }) => event.timerId === THROTTLE_TIMER && context.startAt !== undefined,
            actions: [assign({ startAt: undefined }), "count"],
          },
          {
            // A sync endpoint run not heard from in time: the executor goes on calling it.
            guard: ({ context, event }) => event.timerId === endpointSyncTimer(context)?.timerId,
            actions: [
              assign(({ context }) => ({
                endpoint: { ...(context.endpoint as EndpointState), sync: false },
              })),
              "count",
            ],
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
            actions: [
              assign(({ context, event }) => {
                const step = Object.values(context.steps).find(
                  (s) => isTimed(s) && s.timerId === event.timerId,
                ) as StepState;
                if (step.status === "waiting" && step.wait?.invoke) {
                  return {
                    ...withStep(context, step.stepId, () => ({
                      ...step,
                      status: "failed",
                      error: {
                        name: "InngestInvokeTimeoutError",
                        message: `step.invoke("${step.name}"): ${step.wait?.invoke?.functionId} did not finish in time`,
                      },
                      endedAt: event.ts,
                      order: context.finished + 1,
                      retryAt: undefined,
                      timerId: undefined,
                    })),
                    finished: context.finished + 1,
                  };
                }
                if (step.status === "sleeping" || step.status === "waiting") {
                  // A sleep ends; a wait times out with null.
                  return {
                    ...withStep(context, step.stepId, () => ({
                      ...step,
                      status: "completed",
                      memoRaw: true,
                      data: null,
                      endedAt: event.ts,
                      order: context.finished + 1,
                      retryAt: undefined,
                      timerId: undefined,
                    })),
                    finished: context.finished + 1,
                  };
                }
                // Backoff over: the step is due again (called by id if planned, else via discovery).
                return withStep(context, step.stepId, () => ({
                  ...step,
                  status: "planned",
                  retryAt: undefined,
                  timerId: undefined,
                }));
              }),
              "count",
            ],
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
          actions: [
            assign(({ context }) => ({ endpoint: { ...(context.endpoint as EndpointState), sync: false } })),
            "count",
          ],
        },
        "defer.added": {
          guard: "deferNew",
          actions: [
            assign(({ context, event }) => ({
              defers: {
                ...context.defers,
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
            })),
            "count",
          ],
        },
        "defer.aborted": {
          guard: "deferScheduled",
          actions: [
            assign(({ context, event }) => {
              const { input: _dropped, ...was } = (context.defers as Record<string, DeferState>)[
                event.deferId
              ] as DeferState;
              return {
                defers: { ...context.defers, [event.deferId]: { ...was, status: "aborted" as const } },
              };
            }),
            "count",
          ],
        },
        "compensation.started": {
          guard: ({ context, event }) => event.steps.every((id) => context.steps[id]?.compensable === true),
          target: "compensating",
          actions: [
            assign(({ context, event }) => ({
              ...(event.error ? { error: event.error } : {}),
              ...(event.cancelReason ? { cancelReason: event.cancelReason } : {}),
              compensation: {
                reason: event.reason,
                steps: event.steps.map((id) => ({
                  stepId: id,
                  name: context.steps[id]?.name ?? id,
                  status: "pending" as const,
                  attempts: 0,
                })),
              },
            })),
            "count",
          ],
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
          actions: [
            assign(({ context, event }) =>
              withCompensation(context, event.stepId, (c) => ({
                ...c,
                status: "completed",
                attempts: event.attempt + 1,
                data: event.data,
                startedAt: c.startedAt ?? event.startedAt,
                endedAt: event.ts,
                retryAt: undefined,
                timerId: undefined,
              })),
            ),
            "count",
          ],
        },
        "compensation.errored": {
          guard: ({ context, event }) => compensationOpen(context, event.stepId),
          actions: [
            assign(({ context, event }) =>
              withCompensation(context, event.stepId, (c) => ({
                ...c,
                status: "backoff",
                attempts: event.attempt + 1,
                error: event.error,
                startedAt: c.startedAt ?? event.startedAt,
                retryAt: event.retryAt,
                timerId: event.timerId,
              })),
            ),
            "count",
          ],
        },
        "compensation.failed": {
          guard: ({ context, event }) => compensationOpen(context, event.stepId),
          actions: [
            assign(({ context, event }) =>
              withCompensation(context, event.stepId, (c) => ({
                ...c,
                status: "failed",
                attempts: event.attempt + 1,
                error: event.error,
                startedAt: c.startedAt ?? event.startedAt,
                endedAt: event.ts,
                retryAt: undefined,
                timerId: undefined,
              })),
            ),
            "count",
          ],
        },
        "timer.fired": {
          guard: ({ context, event }) =>
            context.compensation?.steps.some((c) => c.status === "backoff" && c.timerId === event.timerId) ===
            true,
          actions: [
            assign(({ context, event }) => {
              const c = context.compensation?.steps.find(
                (x) => x.timerId === event.timerId,
              ) as CompensationState;
              return withCompensation(context, c.stepId, (x) => ({
                ...x,
                status: "pending",
                retryAt: undefined,
                timerId: undefined,
              }));
            }),
            "count",
          ],
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

export type RunStatus =
  | "empty"
  | "running"
  | "completed"
  | "failed"
  | "cancelled"
  | "compensating"
  | "compensated"
  | "compensation_failed";

/** Whether a run still has work: running, or compensating. */
export const isActive = (status: RunStatus): boolean => status === "running" || status === "compensating";

export type RunPhase =
  | "running"
  | "backoff"
  | "sleeping"
  | "waiting"
  | "completed"
  | "failed"
  | "cancelled"
  | "compensating"
  | "compensated"
  | "compensation_failed";

/** The user-facing phase of a run: a running run whose only pending work is timers is waiting on them. */
export function phaseOf(status: RunStatus, ctx: RunContext): RunPhase | "empty" {
  if (status !== "running") return status;
  const open = Object.values(ctx.steps).filter((s) => !isFinal(s));
  if (open.length === 0 || !open.every(isTimed)) return "running";
  if (open.some((s) => s.status === "backoff")) return "backoff";
  if (open.some((s) => s.status === "waiting")) return "waiting";
  return "sleeping";
}

export { FN_STEP };

// Inngest's REST v1 statuses; a run whose start is accepted but not yet logged counts as Running.
const PUBLIC_STATUS: Record<RunStatus, "Running" | "Completed" | "Failed" | "Cancelled"> = {
  empty: "Running",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  compensating: "Running",
  compensated: "Failed",
  compensation_failed: "Failed",
};

/** The run's status as Inngest's API reports it (a compensated run keeps what started compensation). */
export function publicStatus(
  status: RunStatus,
  ctx: RunContext,
): "Running" | "Completed" | "Failed" | "Cancelled" {
  if (ctx.compensation?.reason === "cancelled" && status !== "compensating") return "Cancelled";
  return PUBLIC_STATUS[status];
}
