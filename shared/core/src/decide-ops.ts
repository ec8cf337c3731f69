/**
 * What the ops of an app's answer record (`decideOps`), one function per kind of op: steps that
 * ran, errored or failed, steps planned in parallel, sleeps, the run's end, and waits and invokes
 * (`decide-waits.ts`); the defers among them are decided in `decide-defers.ts`.
 */
import { decideDefers } from "./decide-defers.ts";
import { type DecideOptions, retryOrFail, stepRetryOrFail } from "./decide-retry.ts";
import { invokeFromOp, waitFromOp } from "./decide-waits.ts";
import { parseDuration } from "./duration.ts";
import type { DueCall } from "./next-work.ts";
import { isDeferOp, opName, RUN_COMPLETE_OP_ID, stepIdProblem } from "./op-fields.ts";
import type { RunContext } from "./run-context.ts";
import { FN_STEP, type NewRunLogEntry } from "./schemas/log.ts";
import { type Op, OpCodes } from "./schemas/ops.ts";

/** What one op of an answer records. */
type OpDecision =
  /** Entries, in the op's place among the answer's. */
  | { add: NewRunLogEntry[] }
  /** A step planned in parallel: the answer's planned steps go in one `steps.planned`, last. */
  | { plan: { stepId: string; name: string } }
  /** The run ends: the answer records its defers, then these (and nothing else). */
  | { end: NewRunLogEntry[] }
  /** The op is invalid: the answer records only this `run.failed`. */
  | { refuse: NewRunLogEntry };

const NOTHING: OpDecision = { add: [] };

/**
 * The entries an answer of ops records: its defers first (they ride along with whatever else the
 * answer says, and count even when that is the end of the run), then each op's, in order.
 */
export function decideOps(
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
  // Step ids end up in timer subjects and wait keys: one nats-server refuses would stall the run.
  for (const op of ops) {
    const badId = stepIdProblem(op.id);
    if (badId) return [runFailed(ts, "InvalidStepId", badId)];
  }
  const defers = decideDefers(ctx, ops, ts);
  const out: NewRunLogEntry[] = [];
  const planned: { stepId: string; name: string }[] = [];
  for (const op of ops) {
    if (isDeferOp(op)) continue;
    const decision = decideOp(ctx, call, op, opts, retryAfterMs);
    if ("refuse" in decision) return [decision.refuse];
    if ("end" in decision) return [...defers, ...decision.end];
    if ("plan" in decision) planned.push(decision.plan);
    else out.push(...decision.add);
  }
  if (planned.length > 0) out.push({ type: "steps.planned", ts, steps: planned });
  return [...defers, ...out];
}

/** What one (non-defer) op records, by its kind. */
function decideOp(
  ctx: RunContext,
  call: DueCall,
  op: Op,
  opts: DecideOptions,
  retryAfterMs: number | undefined,
): OpDecision {
  const ts = opts.now;
  const attempt = ctx.steps[op.id]?.attempts ?? call.attempt;
  if (op.id === RUN_COMPLETE_OP_ID && (op.op === OpCodes.stepError || op.op === OpCodes.stepFailed))
    return { end: functionError(ctx, call, op, opts, retryAfterMs) };
  switch (op.op) {
    case OpCodes.stepRun:
    case OpCodes.step:
      return { add: [stepRan(op, attempt, ts)] };
    case OpCodes.stepError:
      return { add: stepError(ctx, op, attempt, opts, retryAfterMs) };
    case OpCodes.stepFailed:
      return { add: [stepFailed(op, attempt, ts)] };
    case OpCodes.stepPlanned:
      return { plan: { stepId: op.id, name: opName(op) } };
    case OpCodes.discoveryRequest:
      // Nothing to record: with no step left open, the next call is a discovery call.
      return NOTHING;
    case OpCodes.sleep:
      return sleepStarted(op, ts);
    case OpCodes.runComplete:
      return { end: [{ type: "run.completed", ts, output: op.data ?? null }] };
    case OpCodes.waitForEvent:
      return started(waitFromOp(ctx, op, ts, opts.eventsLastSeq ?? 0), ts, "InvalidWaitForEvent");
    case OpCodes.invokeFunction:
      return started(invokeFromOp(ctx, op, ts, opts.eventsLastSeq ?? 0), ts, "InvalidInvoke");
    default:
      return { refuse: runFailed(ts, "UnknownOp", `app answered unknown op "${op.op}"`) };
  }
}

const runFailed = (ts: number, name: string, message: string): NewRunLogEntry => ({
  type: "run.failed",
  ts,
  error: { name, message },
});

/**
 * The official SDK reports an error thrown outside any step, when defers ride along, as a step
 * error of its "complete" pseudo step: it is the function's error.
 */
function functionError(
  ctx: RunContext,
  call: DueCall,
  op: Op,
  opts: DecideOptions,
  retryAfterMs: number | undefined,
): NewRunLogEntry[] {
  const error = op.error ?? { name: "Error", message: "function failed" };
  return op.op === OpCodes.stepFailed
    ? [{ type: "run.failed", ts: opts.now, error }]
    : stepRetryOrFail(ctx, FN_STEP, "function", call.attempt, error, opts, retryAfterMs);
}

function stepRan(op: Op, attempt: number, ts: number): NewRunLogEntry {
  return {
    type: "step.completed",
    ts,
    stepId: op.id,
    name: opName(op),
    data: op.data ?? null,
    attempt,
    startedAt: ts,
    ...(op.opts?.compensable === true ? { compensable: true } : {}),
  };
}

/** A step that threw: retried after a backoff, or failed once out of attempts. */
function stepError(
  ctx: RunContext,
  op: Op,
  attempt: number,
  opts: DecideOptions,
  retryAfterMs: number | undefined,
): NewRunLogEntry[] {
  const error = op.error ?? { name: "Error", message: "step failed" };
  return stepRetryOrFail(ctx, op.id, opName(op), attempt, error, opts, retryAfterMs);
}

/** A step that failed for good (`NonRetriableError`, or the SDK counted its attempts out). */
function stepFailed(op: Op, attempt: number, ts: number): NewRunLogEntry {
  return {
    type: "step.failed",
    ts,
    stepId: op.id,
    name: opName(op),
    error: op.error ?? { name: "Error", message: "step failed" },
    attempt,
    startedAt: ts,
  };
}

function sleepStarted(op: Op, ts: number): OpDecision {
  const until = sleepUntil(op, ts);
  if (typeof until === "string") return { refuse: runFailed(ts, "InvalidSleep", until) };
  return {
    add: [
      { type: "sleep.started", ts, stepId: op.id, name: opName(op), until, timerId: sleepTimerId(op.id) },
    ],
  };
}

/** A wait or invoke op's `wait.started`, or the run's failure when the op is invalid. */
function started(wait: NewRunLogEntry | string, ts: number, invalid: string): OpDecision {
  return typeof wait === "string" ? { refuse: runFailed(ts, invalid, wait) } : { add: [wait] };
}

export const sleepTimerId = (stepId: string): string => `sleep-${stepId}`;

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
