/**
 * Inngest REST API v1 shapes for runs: `{ data: … }`, `run_id`, `function_id`, `status` one of
 * Running | Completed | Failed | Cancelled, `output`. Steps add our detail: output, error,
 * attempts and timings.
 */
import {
  FN_STEP,
  InternalEvents,
  invokedRunId,
  phaseOf,
  publicStatus,
  RERUNS_METADATA_KIND,
  type RunMetadata,
  type RunSnapshot,
  runTrace,
  type StepKind,
  type StepState,
  statusOf,
  stepKind,
} from "@jetstep/core";

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * How a step that is not just run ended: a wait matched an event or timed out; an invoke's child
 * run (and whether it timed out).
 */
function stepOutcome(s: StepState, kind: StepKind) {
  const done = s.status === "completed" || s.status === "failed";
  if (kind === "WaitForEvent" && done) {
    const event = s.data as { id?: unknown } | null | undefined;
    return event
      ? { type: "matched", event_id: typeof event.id === "string" ? event.id : null }
      : { type: "timed_out" };
  }
  if (kind === "InvokeFunction" && done) {
    if (s.error?.name === "InngestInvokeTimeoutError") return { type: "timed_out", run_id: null };
    return { type: s.status === "completed" ? "completed" : "failed", run_id: s.childRunId ?? null };
  }
  // A sleep: until when (recorded since sleeps keep it; a sleep seeded into a rerun has none).
  if (kind === "Sleep" && s.until !== undefined)
    return { type: done ? "slept" : "sleeping", until: iso(s.until) };
  // An invoke under way: the child run it started (its id follows from the invoke).
  const invoke = s.wait?.invoke;
  if (kind === "InvokeFunction" && invoke && s.startedAt !== undefined)
    return {
      type: "running",
      run_id: invokedRunId(invoke.correlationId, invoke.functionId, s.startedAt),
    };
  return null;
}

const withInvoker = (ctx: RunSnapshot["context"]) => {
  const by = invokedBy(ctx);
  return by ? { invoked_by: by } : {};
};

/** The run whose `step.invoke` started this one (from its `inngest/function.invoked` event). */
function invokedBy(ctx: RunSnapshot["context"]): { run_id: string; function_id: string | null } | null {
  if (ctx.event?.name !== InternalEvents.functionInvoked) return null;
  const meta = (ctx.event.data as { _inngest?: { source_run_id?: unknown; source_fn_id?: unknown } })
    ._inngest;
  if (typeof meta?.source_run_id !== "string") return null;
  return {
    run_id: meta.source_run_id,
    function_id: typeof meta.source_fn_id === "string" ? meta.source_fn_id : null,
  };
}

export function runView(snapshot: RunSnapshot) {
  const ctx = snapshot.context;
  const status = statusOf(snapshot);
  return {
    run_id: ctx.runId,
    function_id: ctx.fnId,
    app_id: ctx.appId,
    status: publicStatus(status, ctx),
    phase: status === "empty" ? "queued" : phaseOf(status, ctx),
    event_id: ctx.event?.id ?? null,
    /** The run's OpenTelemetry trace (look it up in Jaeger). */
    trace_id: runTrace(ctx.runId, ctx.traceparent).traceId,
    run_started_at: iso(ctx.createdAt),
    ended_at: iso(ctx.endedAt),
    output: ctx.output ?? null,
    error: ctx.error ?? null,
    ...(ctx.cancelReason ? { cancel_reason: ctx.cancelReason } : {}),
    ...(ctx.rerunOf ? { rerun_of: ctx.rerunOf } : {}),
    ...withInvoker(ctx),
    ...(ctx.compensation
      ? {
          compensation: {
            status: status === "compensating" ? "compensating" : status,
            reason: ctx.compensation.reason,
            steps: ctx.compensation.steps.map((c) => ({
              id: c.stepId,
              name: c.name,
              status: c.status,
              attempts: c.attempts,
              output: c.status === "completed" ? (c.data ?? null) : null,
              error: c.error ?? null,
              started_at: iso(c.startedAt),
              ended_at: iso(c.endedAt),
            })),
          },
        }
      : {}),
    steps: ctx.stepOrder
      .map((id) => ctx.steps[id])
      .filter((s) => s !== undefined && s.stepId !== FN_STEP)
      .map((s) => {
        const step = s as StepState;
        const kind = stepKind(step);
        const outcome = stepOutcome(step, kind);
        return {
          id: step.stepId,
          name: step.name,
          kind,
          status: step.status,
          attempts: step.attempts,
          output: step.status === "completed" ? (step.data ?? null) : null,
          error: step.error ?? null,
          started_at: iso(step.startedAt),
          ended_at: iso(step.endedAt),
          duration_ms:
            step.startedAt !== undefined && step.endedAt !== undefined ? step.endedAt - step.startedAt : null,
          ...(step.retryAt !== undefined ? { next_attempt_at: iso(step.retryAt) } : {}),
          ...(outcome ? { outcome } : {}),
          // Every attempt that errored, with its error and when the next one was due.
          errored_attempts: (step.history ?? []).map((a) => ({
            attempt: a.attempt,
            error: a.error,
            started_at: iso(a.startedAt),
            ended_at: iso(a.endedAt),
            next_attempt_at: iso(a.retryAt),
          })),
        };
      }),
    // `defer()`s: scheduled until the run ends, then sent as `inngest/deferred.schedule`.
    defers: Object.values(ctx.defers ?? {}).map((d) => ({
      id: d.deferId,
      name: d.name,
      function_id: d.fnSlug,
      status: d.status === "scheduled" && ctx.endedAt !== undefined ? "sent" : d.status,
      ...(d.input ? { input: d.input } : {}),
      ...(d.reason ? { reason: d.reason } : {}),
    })),
  };
}

/**
 * A run's metadata as the API shows it, and its reruns (noted under a reserved kind, newest
 * first), apart.
 */
export function withReruns(metadata: RunMetadata | null): {
  metadata: RunMetadata | null;
  reruns: { run_id: string; at: string }[];
} {
  const noted = metadata?.run[RERUNS_METADATA_KIND];
  if (!metadata || !noted) return { metadata, reruns: [] };
  const { [RERUNS_METADATA_KIND]: _, ...run } = metadata.run;
  const reruns = Object.entries(noted)
    .map(([run_id, at]) => ({ run_id, at: String(at) }))
    .sort((a, b) => b.at.localeCompare(a.at));
  return { metadata: { ...metadata, run }, reruns };
}
