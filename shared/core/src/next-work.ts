/**
 * What a run has due, read from its snapshot: calls to the app (a compensating run's
 * compensations, one at a time), timers to arm, and waits the matcher must know about. The
 * executor asks after every change (`kick`) and does what it is told; nothing here changes a run.
 */
import type { RunSnapshot } from "./replay.ts";
import {
  endpointSyncTimer,
  type RunContext,
  type StepState,
  THROTTLE_TIMER,
  TIMEOUT_FINISH,
  TIMEOUT_START,
} from "./run-context.ts";

/** One call to the app: `stepId` null means discovery (`stepId=step`). */
export interface DueCall {
  stepId: string | null;
  attempt: number;
  /** Run the compensation of step `stepId` (a compensating run). */
  compensate?: boolean;
}

export interface DueTimer {
  timerId: string;
  fireAt: number;
}

/** An open wait the matcher must know about: a `step.waitForEvent` or a `cancelOn` entry. */
export interface DueWait {
  /** Unique within the run: the step id, or `cancel-<i>`. */
  waitId: string;
  kind: "step" | "cancel";
  event: string;
  if?: string;
  afterSeq: number;
  /** The wait is over at this time (ms); the matcher ignores it afterwards. */
  until?: number;
  /** `step.invoke`: resolved by the finish event carrying this correlation id. */
  correlationId?: string;
}

export interface NextWork {
  calls: DueCall[];
  timers: DueTimer[];
  waits: DueWait[];
}

const isOpen = (s: StepState) => s.status !== "completed" && s.status !== "failed";

export function nextWork(snapshot: RunSnapshot): NextWork {
  if (snapshot.value === "compensating") return compensationWork(snapshot.context);
  if (snapshot.value !== "running") return { calls: [], timers: [], waits: [] };
  const ctx = snapshot.context;
  const open = Object.values(ctx.steps).filter(isOpen);
  const timers = open
    .filter((s) => s.status !== "planned" && s.timerId !== undefined)
    .map((s) => ({ timerId: s.timerId as string, fireAt: s.retryAt as number }));
  const waits = openWaits(ctx);
  if (ctx.timeouts?.startBy !== undefined && !ctx.started)
    timers.push({ timerId: TIMEOUT_START, fireAt: ctx.timeouts.startBy });
  if (ctx.timeouts?.finishAfterMs !== undefined)
    timers.push({ timerId: TIMEOUT_FINISH, fireAt: ctx.createdAt + ctx.timeouts.finishAfterMs });
  // A durable endpoint's run in sync mode: the app's own request runs it; nothing is called
  // unless it goes quiet for too long.
  const sync = endpointSyncTimer(ctx);
  if (sync) return { calls: [], timers: [...timers, sync], waits };
  if (ctx.startAt !== undefined) {
    // Throttled: nothing runs before the start time (deadlines still count).
    return { calls: [], timers: [...timers, { timerId: THROTTLE_TIMER, fireAt: ctx.startAt }], waits };
  }
  // Deadlines never hold a run back: only step timers defer the next call.
  const stepTimers = timers.filter((t) => t.timerId !== TIMEOUT_START && t.timerId !== TIMEOUT_FINISH);
  const plannedDue = open.filter((s) => s.origin === "planned" && s.status === "planned");
  if (plannedDue.length > 0) {
    return { calls: plannedDue.map((s) => ({ stepId: s.stepId, attempt: s.attempts })), timers, waits };
  }
  // A step waiting on a timer, or on a wait without one (an invoke with no timeout), holds the
  // next discovery back until it resolves.
  if (stepTimers.length > 0 || open.some((s) => s.status === "waiting")) return { calls: [], timers, waits };
  return { calls: [{ stepId: null, attempt: discoveryAttempt(ctx) }], timers, waits };
}

/** Compensations run one at a time, in order; one in backoff waits for its timer. */
function compensationWork(ctx: RunContext): NextWork {
  const open = (ctx.compensation?.steps ?? []).find((c) => c.status === "pending" || c.status === "backoff");
  if (!open) return { calls: [], timers: [], waits: [] };
  if (open.status === "backoff") {
    return {
      calls: [],
      timers: [{ timerId: open.timerId as string, fireAt: open.retryAt as number }],
      waits: [],
    };
  }
  return {
    calls: [{ stepId: open.stepId, attempt: open.attempts, compensate: true }],
    timers: [],
    waits: [],
  };
}

/** Compensable completed steps, most recently completed first. */
export function compensableSteps(ctx: RunContext): string[] {
  return Object.values(ctx.steps)
    .filter((s) => s.status === "completed" && s.compensable && s.order !== undefined)
    .sort((a, b) => (b.order as number) - (a.order as number))
    .map((s) => s.stepId);
}

/** Waits of a run: its waiting steps, and its `cancelOn` entries while it runs. */
export function openWaits(ctx: RunContext): DueWait[] {
  const waits: DueWait[] = [];
  for (const s of Object.values(ctx.steps)) {
    if (s.status !== "waiting" || !s.wait) continue;
    waits.push({
      waitId: s.stepId,
      kind: "step",
      event: s.wait.event,
      afterSeq: s.wait.afterSeq,
      ...(s.wait.if ? { if: s.wait.if } : {}),
      ...(s.retryAt !== undefined ? { until: s.retryAt } : {}),
      ...(s.wait.invoke ? { correlationId: s.wait.invoke.correlationId } : {}),
    });
  }
  (ctx.cancelOn ?? []).forEach((c, i) => {
    waits.push({
      waitId: `cancel-${i}`,
      kind: "cancel",
      event: c.event,
      afterSeq: ctx.eventSeq ?? 0,
      ...(c.if ? { if: c.if } : {}),
      ...(c.until !== undefined ? { until: c.until } : {}),
    });
  });
  return waits;
}

/** The attempt a discovery call carries: that of a discovered step (or the function) due for retry. */
export function discoveryAttempt(ctx: RunContext): number {
  let attempt = 0;
  for (const s of Object.values(ctx.steps)) {
    if (s.origin === "discovered" && s.status === "planned") attempt = Math.max(attempt, s.attempts);
  }
  return attempt;
}
