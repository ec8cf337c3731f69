/**
 * A run's trace as its log tells it, for the UI's trace tab (no Jaeger needed): the same tree the
 * executor exports over OpenTelemetry (its run-spans.ts), built from the run's state instead of
 * from the spans:
 *
 *   run <fnId>                  the run, schedule to end
 *   ├─ step <name>              one per attempt (errored ones included, with the backoff after)
 *   ├─ sleep <name>             a step.sleep, to its timer
 *   ├─ waitForEvent <event>     to its match or timeout
 *   ├─ invoke <fnId>            to the invoked run's end (the child run is named)
 *   └─ compensate <name>        a compensation (its last attempt)
 *
 * Only the run span's id is the exported one (it derives from the run id); attempt spans are
 * given ids of their own there, so these carry none.
 */
import type { RunContext, StepState } from "./run-context.ts";
import type { SerializedError } from "./schemas/error.ts";
import { runTrace } from "./trace.ts";

export type TraceSpanKind = "run" | "step" | "sleep" | "waitForEvent" | "invoke" | "compensate";

export interface TraceSpan {
  name: string;
  kind: TraceSpanKind;
  /** ms since the epoch; `end` undefined while open. */
  start: number;
  end?: number;
  /** `ok`, `error` (a failed or errored attempt, a failed run), `open` (not ended), `cancelled`, `timed out`. */
  status: "ok" | "error" | "open" | "cancelled" | "timed out";
  stepId?: string;
  /** Attempts count from 1. */
  attempt?: number;
  error?: SerializedError;
  /** An errored attempt: when the next one was due. */
  retryAt?: number;
  /** An invoke: the invoked run. */
  childRunId?: string;
}

export interface RunTraceView {
  traceId: string;
  runSpanId: string;
  /** The run span first, then its children by start time. */
  spans: TraceSpan[];
}

/** What a step is, by Inngest's op names. */
export type StepKind = "StepRun" | "StepPlanned" | "Sleep" | "WaitForEvent" | "InvokeFunction";

export function stepKind(s: StepState): StepKind {
  if (s.wait?.invoke) return "InvokeFunction";
  if (s.wait) return "WaitForEvent";
  // A sleep: sleeping, or ended by its timer (its memo is a bare null, and it never waited).
  if (s.status === "sleeping" || (s.memoRaw && s.data === null)) return "Sleep";
  // A wait seeded into a rerun: its memo is the event it matched (only sleeps and waits are raw).
  if (s.memoRaw) return "WaitForEvent";
  if (s.status === "planned" && s.attempts === 0) return "StepPlanned";
  return "StepRun";
}

function stepSpans(s: StepState): TraceSpan[] {
  if (s.startedAt === undefined) return [];
  const base = { stepId: s.stepId };
  const open =
    s.status === "sleeping" || s.status === "waiting" || s.status === "backoff" || s.status === "planned";
  const ended = s.endedAt !== undefined ? { end: s.endedAt } : {};
  const kind = stepKind(s);
  if (kind === "Sleep" || kind === "WaitForEvent" || kind === "InvokeFunction") {
    const invoke = s.wait?.invoke;
    const name = invoke
      ? `invoke ${invoke.functionId}`
      : kind === "Sleep"
        ? `sleep ${s.name}`
        : `waitForEvent ${s.wait?.event ?? s.name}`;
    const timedOut = kind === "WaitForEvent" && s.status === "completed" && s.data === null;
    return [
      {
        ...base,
        name,
        kind: invoke ? "invoke" : kind === "Sleep" ? "sleep" : "waitForEvent",
        start: s.startedAt,
        ...ended,
        status: s.status === "failed" ? "error" : open ? "open" : timedOut ? "timed out" : "ok",
        ...(s.error ? { error: s.error } : {}),
        ...(s.childRunId ? { childRunId: s.childRunId } : {}),
      },
    ];
  }
  const spans: TraceSpan[] = (s.history ?? []).map((a) => ({
    ...base,
    name: `step ${s.name}`,
    kind: "step" as const,
    start: a.startedAt,
    end: a.endedAt,
    status: "error" as const,
    attempt: a.attempt + 1,
    error: a.error,
    ...(a.retryAt !== undefined ? { retryAt: a.retryAt } : {}),
  }));
  // The attempt that completed (a step that failed for good has its last attempt in history).
  if (s.status === "completed" || (s.status === "failed" && spans.length === 0))
    spans.push({
      ...base,
      name: `step ${s.name}`,
      kind: "step",
      // A step's start is its last attempt's (`completeStep`).
      start: s.startedAt,
      ...ended,
      status: s.status === "failed" ? "error" : "ok",
      attempt: s.attempts,
      ...(s.error ? { error: s.error } : {}),
    });
  return spans;
}

/** The trace of the run whose context is `ctx` (see the module's comment). */
export function runTraceView(ctx: RunContext): RunTraceView {
  const t = runTrace(ctx.runId, ctx.traceparent);
  const ended = ctx.endedAt !== undefined;
  const runSpan: TraceSpan = {
    name: `run ${ctx.fnId}`,
    kind: "run",
    start: ctx.createdAt,
    ...(ended ? { end: ctx.endedAt } : {}),
    status: !ended ? "open" : ctx.error ? "error" : ctx.cancelReason !== undefined ? "cancelled" : "ok",
    ...(ctx.error ? { error: ctx.error } : {}),
  };
  const children: TraceSpan[] = [];
  for (const id of ctx.stepOrder) {
    const s = ctx.steps[id];
    if (s) children.push(...stepSpans(s));
  }
  for (const c of ctx.compensation?.steps ?? []) {
    if (c.startedAt === undefined) continue;
    children.push({
      name: `compensate ${c.name}`,
      kind: "compensate",
      stepId: c.stepId,
      start: c.startedAt,
      ...(c.endedAt !== undefined ? { end: c.endedAt } : {}),
      status: c.status === "failed" ? "error" : c.status === "completed" ? "ok" : "open",
      attempt: c.attempts,
      ...(c.error ? { error: c.error } : {}),
    });
  }
  // A span still open when the run ended never finished: it ends with the run.
  if (ended)
    for (const c of children)
      if (c.status === "open") {
        c.status = "cancelled";
        c.end = ctx.endedAt;
      }
  children.sort((a, b) => a.start - b.start);
  return { traceId: t.traceId, runSpanId: t.runSpanId, spans: [runSpan, ...children] };
}
