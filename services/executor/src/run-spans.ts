/**
 * A run's OpenTelemetry spans. Every run is one trace (or joins the trace its event came with):
 *
 *   run <fnId>                      the run, from its schedule to its end (emitted at the end)
 *   ├─ step <name>                  one span per call to the app (attempt), failures included
 *   ├─ sleep <name>                 a step.sleep, from its start to the timer
 *   ├─ waitForEvent <event>         a step.waitForEvent, to its match or timeout
 *   ├─ invoke <fnId>                a step.invoke; the invoked run is its child
 *   └─ compensate <name>            one span per compensation attempt
 *
 * The run span's id derives from the run id (core `runTrace`), so any executor that drives the
 * run, before or after a crash, parents its spans the same way. The app receives the attempt
 * span's `traceparent`, so spans the app makes join the step's span.
 */

import {
  type AppAnswer,
  type DueCall,
  derivedSpanId,
  formatTraceparent,
  type NewRunLogEntry,
  publicStatus,
  type RunContext,
  type RunStatus,
  type RunTrace,
  runTrace,
  type SerializedError,
  type StepState,
} from "@jetstep/core";
import { withPinnedIds } from "@jetstep/telemetry";
import {
  type Attributes,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";

/** Span attribute names. */
export const SpanAttr = {
  runId: "jetstep.run.id",
  functionId: "jetstep.function.id",
  appId: "jetstep.app.id",
  eventId: "jetstep.event.id",
  eventName: "jetstep.event.name",
  runStatus: "jetstep.run.status",
  stepId: "jetstep.step.id",
  stepName: "jetstep.step.name",
  stepOp: "jetstep.step.op",
  attempt: "jetstep.step.attempt",
  status: "jetstep.step.status",
  retryAt: "jetstep.step.retry_at",
  waitEvent: "jetstep.wait.event",
  invokeFunction: "jetstep.invoke.function_id",
  errorType: "error.type",
  errorMessage: "jetstep.error.message",
} as const;

const tracer = () => trace.getTracer("jetstep.executor");

/** A context whose (remote) parent span is `spanId` in the run's trace. */
function remoteParent(t: RunTrace, spanId: string) {
  return trace.setSpanContext(context.active(), {
    traceId: t.traceId,
    spanId,
    traceFlags: t.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}

/** The context whose (remote) span is the run span: parent of every span of the run. */
function runParent(ctx: RunContext) {
  const t = runTrace(ctx.runId, ctx.traceparent);
  return remoteParent(t, t.runSpanId);
}

/** A step.invoke's span id, derived so the invoked run (started long before the span ends) can be its child. */
const invokeSpanId = (ctx: RunContext, stepId: string): string =>
  derivedSpanId(`invoke:${ctx.runId}:${stepId}`);

const runAttributes = (ctx: RunContext): Attributes => ({
  [SpanAttr.runId]: ctx.runId,
  [SpanAttr.functionId]: ctx.fnId,
  [SpanAttr.appId]: ctx.appId,
});

function setError(span: Span, error: SerializedError | undefined, fallback: string): void {
  span.setAttributes({
    [SpanAttr.errorType]: error?.name ?? "Error",
    [SpanAttr.errorMessage]: error?.message ?? fallback,
  });
  span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? fallback });
}

export function traceparentOf(span: Span): string {
  const sc = span.spanContext();
  return formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags });
}

/** The run's trace id, for logs. */
export const traceIdOf = (ctx: RunContext): string => runTrace(ctx.runId, ctx.traceparent).traceId;

/** One call to the app. Named and classified at the end, when its outcome is known. */
export class AttemptSpan {
  private readonly span: Span;
  readonly traceparent: string;

  constructor(ctx: RunContext, call: DueCall, startTime: number) {
    const step = call.stepId ? ctx.steps[call.stepId] : undefined;
    const name = call.compensate
      ? `compensate ${step?.name ?? call.stepId}`
      : `step ${step?.name ?? "discovery"}`;
    this.span = tracer().startSpan(
      name,
      {
        kind: SpanKind.CLIENT,
        startTime,
        attributes: {
          ...runAttributes(ctx),
          [SpanAttr.attempt]: call.attempt,
          ...(call.stepId ? { [SpanAttr.stepId]: call.stepId } : {}),
          ...(step ? { [SpanAttr.stepName]: step.name } : {}),
        },
      },
      runParent(ctx),
    );
    this.traceparent = traceparentOf(this.span);
  }

  /**
   * Ends the span with what the answer did to the run (`entries`, empty if nothing was recorded).
   * Steps in `ownSpans` got spans of their own (the app ran them under span ids it reported): the
   * call is then named `call`, not after them.
   */
  end(answer: AppAnswer, entries: NewRunLogEntry[], endTime: number, ownSpans?: ReadonlySet<string>): void {
    const span = this.span;
    if (answer.kind === "transport") setError(span, { name: "TransportError", message: answer.message }, "");
    let named = false;
    for (const e of entries) {
      switch (e.type) {
        case "step.completed":
        case "step.errored":
        case "step.failed": {
          if (named || ownSpans?.has(e.stepId)) break;
          named = true;
          const fnLevel = e.stepId === "$fn";
          span.updateName(fnLevel ? "function" : `step ${e.name}`);
          span.setAttributes({
            [SpanAttr.stepId]: e.stepId,
            [SpanAttr.stepName]: e.name,
            [SpanAttr.attempt]: e.attempt,
            [SpanAttr.status]: e.type.slice("step.".length),
          });
          if (e.type === "step.errored") {
            span.setAttribute(SpanAttr.retryAt, new Date(e.retryAt).toISOString());
            setError(span, e.error, "step errored");
          } else if (e.type === "step.failed") setError(span, e.error, "step failed");
          break;
        }
        case "compensation.completed":
        case "compensation.errored":
        case "compensation.failed":
          named = true;
          span.setAttribute(SpanAttr.status, e.type.slice("compensation.".length));
          if (e.type !== "compensation.completed") setError(span, e.error, "compensation failed");
          break;
        case "run.completed":
          if (!named) span.updateName("function");
          named = true;
          span.setAttribute(SpanAttr.status, "completed");
          break;
        case "run.failed":
          if (!named) span.updateName("function");
          named = true;
          span.setAttribute(SpanAttr.status, "failed");
          setError(span, e.error, "run failed");
          break;
        case "steps.planned":
        case "sleep.started":
        case "wait.started":
          if (!named) span.updateName("discovery");
          span.setAttribute(
            SpanAttr.stepOp,
            e.type === "steps.planned" ? "plan" : (e.type.split(".")[0] as string),
          );
          break;
        default:
          break;
      }
    }
    if (!named && ownSpans?.size) span.updateName("call");
    else if (!named && answer.kind !== "transport" && entries.length === 0)
      span.setAttribute(SpanAttr.status, "not recorded");
    span.end(endTime);
  }
}

/** The `traceparent` of a step.invoke's span: the invoked run becomes its child. */
export function invokeTraceparent(ctx: RunContext, stepId: string): string {
  const t = runTrace(ctx.runId, ctx.traceparent);
  return formatTraceparent({
    traceId: t.traceId,
    spanId: invokeSpanId(ctx, stepId),
    flags: t.sampled ? 1 : 0,
  });
}

/** A sleep, wait or invoke that ended (`step` as it is now), or was left open when the run ended. */
export function recordParkedStep(
  ctx: RunContext,
  before: StepState,
  after: StepState | undefined,
  endTime: number,
): void {
  if (before.startedAt === undefined) return;
  const invoke = before.wait?.invoke;
  const name =
    before.status === "sleeping"
      ? `sleep ${before.name}`
      : invoke
        ? `invoke ${invoke.functionId}`
        : `waitForEvent ${before.wait?.event ?? before.name}`;
  const start = () =>
    tracer().startSpan(
      name,
      {
        kind: invoke ? SpanKind.PRODUCER : SpanKind.INTERNAL,
        startTime: before.startedAt,
        attributes: {
          ...runAttributes(ctx),
          [SpanAttr.stepId]: before.stepId,
          [SpanAttr.stepName]: before.name,
          [SpanAttr.stepOp]: before.status === "sleeping" ? "sleep" : invoke ? "invoke" : "waitForEvent",
          ...(invoke ? { [SpanAttr.invokeFunction]: invoke.functionId } : {}),
          ...(before.wait && !invoke ? { [SpanAttr.waitEvent]: before.wait.event } : {}),
        },
      },
      runParent(ctx),
    );
  // The invoke span has a derived id: the invoked run (started long before this span ends) is its child.
  const span = invoke ? withPinnedIds({ spanId: invokeSpanId(ctx, before.stepId) }, start) : start();
  if (!after || after.status === before.status) span.setAttribute(SpanAttr.status, "abandoned");
  else if (after.status === "failed") {
    span.setAttribute(SpanAttr.status, "failed");
    setError(span, after.error, "failed");
  } else {
    const timedOut = before.status === "waiting" && !invoke && after.data === null;
    span.setAttribute(SpanAttr.status, timedOut ? "timed out" : "completed");
  }
  span.end(after?.endedAt ?? endTime);
}

/** The run span, emitted once the run has ended (its id derives from the run id). */
export function recordRun(ctx: RunContext, status: RunStatus, endTime: number): void {
  const t = runTrace(ctx.runId, ctx.traceparent);
  const parent = t.parentSpanId ? remoteParent(t, t.parentSpanId) : trace.deleteSpan(context.active());
  const span = withPinnedIds({ traceId: t.traceId, spanId: t.runSpanId }, () =>
    tracer().startSpan(
      `run ${ctx.fnId}`,
      {
        kind: SpanKind.CONSUMER,
        startTime: ctx.createdAt,
        ...(t.parentSpanId ? {} : { root: true }),
        attributes: {
          ...runAttributes(ctx),
          [SpanAttr.runStatus]: publicStatus(status, ctx),
          ...(ctx.event ? { [SpanAttr.eventId]: ctx.event.id, [SpanAttr.eventName]: ctx.event.name } : {}),
        },
      },
      parent,
    ),
  );
  if (ctx.error) setError(span, ctx.error, "run failed");
  else if (status === "cancelled") span.setAttribute(SpanAttr.errorMessage, ctx.cancelReason ?? "cancelled");
  span.end(ctx.endedAt ?? endTime);
}

const SPAN_ID = /^[0-9a-f]{16}$/;

/** The span id an app reported for a step (`span_id`), if it is one. */
export function reportedSpanId(reported: { span_id?: unknown } | undefined): string | undefined {
  const id = reported?.span_id;
  return typeof id === "string" && SPAN_ID.test(id) ? id : undefined;
}

type ReportedStep = { id: string; timing?: { a?: number; b?: number } | undefined; span_id?: unknown };

/**
 * Spans of steps an app ran in a checkpointing call: one `step <name>` per recorded outcome, under
 * the run span, timed as the app reports (`timing`: start and duration in ns), else up to `now`.
 * An app on our SDK ran each step under a span id it reports (`span_id`): the span gets that id,
 * so spans the app made inside the step are its children. `steps` are what the app reported (a
 * checkpoint's steps, or an answer's ops); without `span_id` and outside a checkpoint (`all`
 * false), a step keeps being described by its call's span instead.
 */
export function recordStepSpans(
  ctx: RunContext,
  entries: readonly NewRunLogEntry[],
  steps: readonly ReportedStep[],
  now: number,
  all: boolean,
): Set<string> {
  const recorded = new Set<string>();
  for (const e of entries) {
    if (e.type !== "step.completed" && e.type !== "step.errored" && e.type !== "step.failed") continue;
    const reported = steps.find((s) => s.id === e.stepId);
    const spanId = reportedSpanId(reported);
    if (!spanId && !all) continue;
    const durationNs = reported?.timing?.b;
    const end = typeof durationNs === "number" && durationNs >= 0 ? e.startedAt + durationNs / 1e6 : now;
    const start = () =>
      tracer().startSpan(
        `step ${e.name}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: e.startedAt,
          attributes: {
            ...runAttributes(ctx),
            [SpanAttr.stepId]: e.stepId,
            [SpanAttr.stepName]: e.name,
            [SpanAttr.attempt]: e.attempt,
            [SpanAttr.status]: e.type.slice("step.".length),
          },
        },
        runParent(ctx),
      );
    const span = spanId ? withPinnedIds({ spanId }, start) : start();
    if (e.type === "step.errored") setError(span, e.error, "step errored");
    else if (e.type === "step.failed") setError(span, e.error, "step failed");
    span.end(Math.max(end, e.startedAt));
    recorded.add(e.stepId);
  }
  return recorded;
}
