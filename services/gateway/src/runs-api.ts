/**
 * Inngest REST API v1 shapes for runs: `{ data: … }`, `run_id`, `function_id`, `status` one of
 * Running | Completed | Failed | Cancelled, `output`. Steps add our detail: output, error,
 * attempts and timings.
 */
import { FN_STEP, phaseOf, publicStatus, type RunSnapshot, runTrace, statusOf } from "@jetstep/core";

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

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
      .map((s) => ({
        id: s?.stepId,
        name: s?.name,
        status: s?.status,
        attempts: s?.attempts,
        output: s?.status === "completed" ? (s.data ?? null) : null,
        error: s?.error ?? null,
        started_at: iso(s?.startedAt),
        ended_at: iso(s?.endedAt),
        duration_ms: s?.startedAt !== undefined && s.endedAt !== undefined ? s.endedAt - s.startedAt : null,
        ...(s?.retryAt !== undefined ? { next_attempt_at: iso(s.retryAt) } : {}),
      })),
  };
}
