/**
 * The `wait.started` an app's `step.waitForEvent` or `step.invoke` op records, or what is wrong
 * with the op (which fails the run).
 */
import { parseDuration } from "./duration.ts";
import { compileExpression } from "./expr.ts";
import { MAX_NAME_LENGTH, subjectProblem } from "./limits.ts";
import { Keys } from "./names.ts";
import { opName } from "./op-fields.ts";
import type { RunContext } from "./run-context.ts";
import { InternalEvents } from "./schemas/event.ts";
import type { NewRunLogEntry } from "./schemas/log.ts";
import type { Op } from "./schemas/ops.ts";
import { IncomingEventMetaSchema, type StoredEventMeta, storedEventMeta } from "./sessions.ts";

export const waitTimerId = (stepId: string): string => `wait-${stepId}`;

/** The correlation id of an invoke: carried by the invoked event and by the target's finish. */
export const invokeCorrelationId = (runId: string, stepId: string): string => `${runId}.${stepId}`;

export function invokeFromOp(
  ctx: RunContext,
  op: Op,
  now: number,
  afterSeq: number,
): NewRunLogEntry | string {
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

export function waitFromOp(ctx: RunContext, op: Op, now: number, afterSeq: number): NewRunLogEntry | string {
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
