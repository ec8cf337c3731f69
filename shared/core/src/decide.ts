/**
 * Deciding, given a run's snapshot: which calls to the app are due (`nextWork`), what the app is
 * sent (`memoOf`), and which log entries an app's answer turns into (`decideAnswer`). Pure: the
 * clock and randomness come in as arguments.
 */
import { backoffDelay } from "./backoff.ts";
import { parseDuration } from "./duration.ts";
import { compileExpression } from "./expr.ts";
import {
  MAX_DEFER_INPUT_BYTES,
  MAX_DEFER_INPUT_TOTAL_BYTES,
  MAX_DEFERS_PER_RUN,
  MAX_NAME_LENGTH,
  subjectProblem,
} from "./limits.ts";
import { Keys, Subjects } from "./names.ts";
import type { RunSnapshot } from "./replay.ts";
import {
  type DeferState,
  endpointSyncTimer,
  type RunContext,
  type StepState,
  THROTTLE_TIMER,
  TIMEOUT_FINISH,
  TIMEOUT_START,
} from "./run-machine.ts";
import type { CheckpointStep } from "./schemas/checkpoint.ts";
import type { SerializedError } from "./schemas/error.ts";
import { InternalEvents } from "./schemas/event.ts";
import { FN_STEP, type NewRunLogEntry } from "./schemas/log.ts";
import { type Op, OpCodes } from "./schemas/ops.ts";
import { IncomingEventMetaSchema, type StoredEventMeta, storedEventMeta } from "./sessions.ts";

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

/**
 * The `defers` sent to the app: every defer the run recorded, so the SDK does not send one again
 * from a later call, and `abort()` of one no longer scheduled does nothing.
 */
export function defersOf(ctx: RunContext): Record<string, { abortable: boolean }> {
  const out: Record<string, { abortable: boolean }> = {};
  for (const d of Object.values(ctx.defers ?? {})) out[d.deferId] = { abortable: d.status === "scheduled" };
  return out;
}

/** The `steps` memo sent to the app, keyed by step hash. */
export function memoOf(ctx: RunContext): Record<string, unknown> {
  const memo: Record<string, unknown> = {};
  for (const id of ctx.stepOrder) {
    const s = ctx.steps[id];
    if (!s || id === FN_STEP) continue;
    if (s.status === "completed") memo[id] = s.memoRaw ? (s.data ?? null) : { data: s.data ?? null };
    else if (s.status === "failed") memo[id] = { error: s.error };
  }
  return memo;
}

/** Hashes of final steps in completion order (the SDK's `ctx.stack.stack`). */
export function stackOf(ctx: RunContext): string[] {
  return Object.values(ctx.steps)
    .filter((s) => s.order !== undefined && s.stepId !== FN_STEP)
    .sort((a, b) => (a.order as number) - (b.order as number))
    .map((s) => s.stepId);
}

/** The app's answer to one call, already classified from HTTP (see parseAppResponse). */
/** `reqVersion`: the execution version the SDK says it used (`x-inngest-req-version`). */
export type AppAnswer =
  | { kind: "result"; data: unknown; reqVersion?: number }
  | { kind: "ops"; ops: Op[]; retryAfterMs?: number; reqVersion?: number }
  | { kind: "error"; error: SerializedError; noRetry: boolean; retryAfterMs?: number; reqVersion?: number }
  | { kind: "transport"; message: string };

export interface DecideOptions {
  now: number;
  random: () => number;
  fixedRetryIntervalMs?: number;
  /** Last sequence of EVENTS when the answer arrived: a wait matches only later events. */
  eventsLastSeq?: number;
}

export const retryTimerId = (stepId: string, attempt: number): string => `retry-${stepId}-${attempt}`;
export const sleepTimerId = (stepId: string): string => `sleep-${stepId}`;
export const waitTimerId = (stepId: string): string => `wait-${stepId}`;

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

/** A retriable failure of the call's target: the step called by id, or the function. */
function retryOrFail(
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

function stepRetryOrFail(
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

const opName = (op: Op): string => op.displayName ?? op.name ?? op.id;

function decideOps(
  ctx: RunContext,
  call: DueCall,
  ops: Op[],
  opts: DecideOptions,
  retryAfterMs?: number,
): NewRunLogEntry[] {
  const ts = opts.now;
  if (ops.length === 0) {
    return retryOrFail(
      ctx,
      call,
      { name: "AppCallError", message: "app answered 206 with an empty list of ops" },
      opts,
    );
  }
  const out: NewRunLogEntry[] = [];
  const planned: { stepId: string; name: string }[] = [];
  // Step ids end up in timer subjects and wait keys: one nats-server refuses would stall the run.
  for (const op of ops) {
    const badId = stepIdProblem(op.id);
    if (badId) return [{ type: "run.failed", ts, error: { name: "InvalidStepId", message: badId } }];
  }
  // Defers ride along with whatever else the answer says (the SDK ships them with its next
  // message), and count even when that is the end of the run.
  const defers = decideDefers(ctx, ops, ts);
  for (const op of ops) {
    if (isDeferOp(op)) continue;
    const attempt = ctx.steps[op.id]?.attempts ?? call.attempt;
    // The official SDK reports an error thrown outside any step, when defers ride along, as a
    // step error of its "complete" pseudo step: it is the function's error.
    if (op.id === RUN_COMPLETE_OP_ID && (op.op === OpCodes.stepError || op.op === OpCodes.stepFailed)) {
      const error = op.error ?? { name: "Error", message: "function failed" };
      const end: NewRunLogEntry[] =
        op.op === OpCodes.stepFailed
          ? [{ type: "run.failed", ts, error }]
          : stepRetryOrFail(ctx, FN_STEP, "function", call.attempt, error, opts, retryAfterMs);
      return [...defers, ...end];
    }
    switch (op.op) {
      case OpCodes.stepRun:
      case OpCodes.step:
        out.push({
          type: "step.completed",
          ts,
          stepId: op.id,
          name: opName(op),
          data: op.data ?? null,
          attempt,
          startedAt: ts,
          ...(op.opts?.compensable === true ? { compensable: true } : {}),
        });
        break;
      case OpCodes.stepError:
        out.push(
          ...stepRetryOrFail(
            ctx,
            op.id,
            opName(op),
            attempt,
            op.error ?? { name: "Error", message: "step failed" },
            opts,
            retryAfterMs,
          ),
        );
        break;
      case OpCodes.stepFailed:
        out.push({
          type: "step.failed",
          ts,
          stepId: op.id,
          name: opName(op),
          error: op.error ?? { name: "Error", message: "step failed" },
          attempt,
          startedAt: ts,
        });
        break;
      case OpCodes.stepPlanned:
        planned.push({ stepId: op.id, name: opName(op) });
        break;
      case OpCodes.discoveryRequest:
        // Nothing to record: with no step left open, the next call is a discovery call.
        break;
      case OpCodes.sleep: {
        const until = sleepUntil(op, ts);
        if (typeof until === "string")
          return [{ type: "run.failed", ts, error: { name: "InvalidSleep", message: until } }];
        out.push({
          type: "sleep.started",
          ts,
          stepId: op.id,
          name: opName(op),
          until,
          timerId: sleepTimerId(op.id),
        });
        break;
      }
      case OpCodes.runComplete:
        return [...defers, { type: "run.completed", ts, output: op.data ?? null }];
      case OpCodes.waitForEvent: {
        const wait = waitFromOp(ctx, op, ts, opts.eventsLastSeq ?? 0);
        if (typeof wait === "string")
          return [{ type: "run.failed", ts, error: { name: "InvalidWaitForEvent", message: wait } }];
        out.push(wait);
        break;
      }
      case OpCodes.invokeFunction: {
        const invoke = invokeFromOp(ctx, op, ts, opts.eventsLastSeq ?? 0);
        if (typeof invoke === "string")
          return [{ type: "run.failed", ts, error: { name: "InvalidInvoke", message: invoke } }];
        out.push(invoke);
        break;
      }
      default:
        return [
          {
            type: "run.failed",
            ts,
            error: { name: "UnknownOp", message: `app answered unknown op "${op.op}"` },
          },
        ];
    }
  }
  if (planned.length > 0) out.push({ type: "steps.planned", ts, steps: planned });
  return [...defers, ...out];
}

/** `id` of the official SDK's "complete" pseudo step (sha1 of "complete"), as its ops carry it. */
export const RUN_COMPLETE_OP_ID = "0737c22d3bfae812339732d14d8c7dbd6dc4e09c";

const isDeferOp = (op: Op): boolean => op.op === OpCodes.deferAdd || op.op === OpCodes.deferAbort;

/**
 * The `defer.added` / `defer.aborted` entries for the defer ops among `ops`, in order. A defer
 * already recorded is not recorded again (the SDK may send it again after a lost answer); an
 * abort of a defer not (or no longer) scheduled records nothing. A defer Jetstep cannot send is
 * recorded as rejected with the reason, and never fails the run (`defer()` is fire-and-forget).
 */
export function decideDefers(ctx: RunContext, ops: readonly Op[], ts: number): NewRunLogEntry[] {
  const out: NewRunLogEntry[] = [];
  const known = new Map<string, DeferState["status"]>(
    Object.values(ctx.defers ?? {}).map((d) => [d.deferId, d.status]),
  );
  let count = known.size;
  let bytes = 0;
  for (const d of Object.values(ctx.defers ?? {})) if (d.input) bytes += jsonBytes(d.input);
  for (const op of ops) {
    if (op.op === OpCodes.deferAbort) {
      const target = op.opts?.target_hashed_id;
      if (typeof target !== "string" || known.get(target) !== "scheduled") continue;
      known.set(target, "aborted");
      out.push({ type: "defer.aborted", ts, deferId: target });
      continue;
    }
    if (op.op !== OpCodes.deferAdd || known.has(op.id)) continue;
    const added = deferAdded(op, ts, count, bytes);
    known.set(op.id, added.rejected === undefined ? "scheduled" : "rejected");
    count++;
    if (added.input) bytes += jsonBytes(added.input);
    out.push(added);
  }
  return out;
}

const jsonBytes = (v: unknown): number => new TextEncoder().encode(JSON.stringify(v)).length;

function deferAdded(
  op: Op,
  ts: number,
  count: number,
  bytesSoFar: number,
): Extract<NewRunLogEntry, { type: "defer.added" }> {
  const fnSlug = op.opts?.fn_slug;
  const base = {
    type: "defer.added" as const,
    ts,
    deferId: op.id,
    name: opName(op).slice(0, MAX_NAME_LENGTH),
    fnSlug: typeof fnSlug === "string" ? fnSlug.slice(0, MAX_NAME_LENGTH) : "",
  };
  const reject = (why: string) => ({ ...base, rejected: why });
  if (typeof fnSlug !== "string" || fnSlug.length === 0 || fnSlug.length > MAX_NAME_LENGTH)
    return reject(`opts.fn_slug: must be a function id of 1 to ${MAX_NAME_LENGTH} characters`);
  if (count >= MAX_DEFERS_PER_RUN) return reject(`a run may defer at most ${MAX_DEFERS_PER_RUN} runs`);
  const input = op.opts?.input ?? {};
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return reject("opts.input: must be an object (the deferred event's data)");
  const size = jsonBytes(input);
  if (size > MAX_DEFER_INPUT_BYTES)
    return reject(`opts.input: is ${size} bytes; at most ${MAX_DEFER_INPUT_BYTES}`);
  if (bytesSoFar + size > MAX_DEFER_INPUT_TOTAL_BYTES)
    return reject(`the run's deferred inputs would exceed ${MAX_DEFER_INPUT_TOTAL_BYTES} bytes`);
  let meta: StoredEventMeta | undefined;
  if (op.opts?.meta !== undefined) {
    const parsed = IncomingEventMetaSchema.safeParse(op.opts.meta);
    if (!parsed.success) return reject(`opts.meta: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    try {
      meta = storedEventMeta(parsed.data);
    } catch (e) {
      return reject(`opts.meta: ${(e as Error).message}`);
    }
  }
  return { ...base, input: input as Record<string, unknown>, ...(meta ? { meta } : {}) };
}

/**
 * What is wrong with a step id an app sent, or null. Ids go into timer subjects and wait keys
 * (escaped), so they are held to the limits of names: the SDKs send 40-character hashes.
 */
export function stepIdProblem(id: string): string | null {
  if (id.length > MAX_NAME_LENGTH) return `step id is ${id.length} characters; at most ${MAX_NAME_LENGTH}`;
  const problem = subjectProblem(Subjects.timer(0, "R", id));
  return problem ? `step id ${problem}` : null;
}

/** The correlation id of an invoke: carried by the invoked event and by the target's finish. */
export const invokeCorrelationId = (runId: string, stepId: string): string => `${runId}.${stepId}`;

function invokeFromOp(ctx: RunContext, op: Op, now: number, afterSeq: number): NewRunLogEntry | string {
  const name = op.displayName ?? op.name ?? op.id;
  const functionId = op.opts?.function_id;
  if (typeof functionId !== "string" || functionId === "") return `step.invoke("${name}") names no function`;
  const payload = op.opts?.payload as { data?: unknown; user?: unknown; meta?: unknown } | undefined;
  const data = payload?.data ?? {};
  if (typeof data !== "object" || data === null || Array.isArray(data))
    return `step.invoke("${name}"): data must be an object`;
  // The caller's sessions go on to the invoked run (the SDK stamps them as `propagated_sessions`).
  let meta: StoredEventMeta | undefined;
  if (payload?.meta !== undefined) {
    const parsed = IncomingEventMetaSchema.safeParse(payload.meta);
    if (!parsed.success)
      return `step.invoke("${name}"): meta: ${parsed.error.issues[0]?.message ?? "invalid"}`;
    try {
      meta = storedEventMeta(parsed.data);
    } catch (e) {
      return `step.invoke("${name}"): meta: ${(e as Error).message}`;
    }
  }
  const user = payload?.user;
  const userObject = typeof user === "object" && user !== null && !Array.isArray(user) ? user : undefined;
  // Without a timeout, an invoke waits for the target's end however long it takes, with no timer:
  // a fan-out of 10,000 invokes armed (and later removed) 10,000 year-long timers.
  let timeoutMs: number | undefined;
  if (op.opts?.timeout !== undefined && op.opts.timeout !== null) {
    try {
      timeoutMs = parseDuration(op.opts.timeout as string | number);
    } catch (e) {
      return `step.invoke("${name}"): timeout: ${(e as Error).message}`;
    }
  }
  const correlationId = invokeCorrelationId(ctx.runId, op.id);
  return {
    type: "wait.started",
    ts: now,
    stepId: op.id,
    name,
    event: InternalEvents.functionFinished,
    if: `async.data.correlation_id == "${correlationId}"`,
    afterSeq,
    ...(timeoutMs !== undefined ? { timeoutAt: now + timeoutMs, timerId: waitTimerId(op.id) } : {}),
    invoke: {
      functionId,
      data: data as Record<string, unknown>,
      correlationId,
      ...(meta ? { meta } : {}),
      ...(userObject ? { user: userObject as Record<string, unknown> } : {}),
    },
  };
}

function waitFromOp(ctx: RunContext, op: Op, now: number, afterSeq: number): NewRunLogEntry | string {
  const name = opName(op);
  const event = op.name ?? (op.opts?.event as string | undefined);
  if (!event) return `step.waitForEvent("${name}") has no event name`;
  if (typeof event !== "string" || event.length > MAX_NAME_LENGTH)
    return `step.waitForEvent("${name}"): event: must be a name of at most ${MAX_NAME_LENGTH} characters`;
  const keyProblem = subjectProblem(Keys.wait(event, ctx.runId, op.id));
  if (keyProblem) return `step.waitForEvent("${name}"): event: ${keyProblem}`;
  const rawTimeout = op.opts?.timeout as string | number | undefined;
  if (rawTimeout === undefined) return `step.waitForEvent("${name}") has no timeout`;
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(rawTimeout);
  } catch (e) {
    return `step.waitForEvent("${name}"): timeout: ${(e as Error).message}`;
  }
  const expression = op.opts?.if as string | undefined;
  if (expression !== undefined) {
    try {
      compileExpression(expression);
    } catch (e) {
      return `step.waitForEvent("${name}"): if: ${(e as Error).message}`;
    }
  }
  return {
    type: "wait.started",
    ts: now,
    stepId: op.id,
    name: op.displayName ?? name,
    event,
    ...(expression ? { if: expression } : {}),
    afterSeq,
    timeoutAt: now + timeoutMs,
    timerId: waitTimerId(op.id),
  };
}

function sleepUntil(op: Op, now: number): number | string {
  const raw = (op.opts?.duration as string | number | undefined) ?? op.name;
  if (raw === undefined) return `sleep "${op.id}" has no duration`;
  if (raw === "") {
    return `step.sleep("${op.displayName ?? op.id}") arrived with an empty duration: the official inngest SDK sends "" for compound strings such as "1h30m"; pass milliseconds or a single unit ("90m")`;
  }
  if (typeof raw === "string" && /^\d{4}-\d{2}-\d{2}T/.test(raw)) {
    const at = Date.parse(raw);
    return Number.isNaN(at) ? `sleep "${op.id}": invalid date ${raw}` : at;
  }
  try {
    return now + parseDuration(raw);
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * The entries a checkpoint records: each step the app ran in a checkpointed call, completed. Only
 * `StepRun` may come this way (failures, sleeps, waits, invokes and parallel steps come in the
 * call's answer, as ever); anything else is refused with a message. A step already final is left
 * out, so a checkpoint the app sent again (its first copy recorded, the ack lost) records nothing.
 */
export function decideCheckpoint(
  ctx: RunContext,
  steps: readonly CheckpointStep[],
  now: number,
): NewRunLogEntry[] | string {
  const out: NewRunLogEntry[] = [];
  const seen = new Set<string>();
  for (const s of steps) {
    const badId = stepIdProblem(s.id);
    if (badId) return `steps: ${badId}`;
    if (isDeferOp(s)) continue;
    if (s.op !== OpCodes.stepRun && s.op !== OpCodes.step)
      return `a checkpoint carries only completed steps (StepRun) and defers (DeferAdd, DeferAbort), not "${s.op}" (step ${s.id})`;
    const prev = ctx.steps[s.id];
    if (prev?.status === "completed" || prev?.status === "failed" || seen.has(s.id)) continue;
    seen.add(s.id);
    // The official SDK reports when the step ran, in nanoseconds since the epoch.
    const startedNs = s.timing?.a;
    out.push({
      type: "step.completed",
      ts: now,
      stepId: s.id,
      name: s.displayName ?? s.name ?? s.id,
      data: s.data ?? null,
      attempt: prev?.attempts ?? 0,
      startedAt: typeof startedNs === "number" && startedNs > 0 ? Math.floor(startedNs / 1e6) : now,
      ...(s.opts?.compensable === true ? { compensable: true } : {}),
    });
  }
  return [...decideDefers(ctx, steps, now), ...out];
}
