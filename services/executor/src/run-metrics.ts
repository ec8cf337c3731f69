/**
 * What a run's log records, counted as it lands (the run writer calls this after each append):
 * runs scheduled and ended (by the status the API reports: a compensated run failed, or was
 * cancelled), and step attempts with their durations. Counted by the process that appended, once
 * per append: a conflicting or duplicate append counts nothing.
 */
import { isActive, publicStatus, type RunLogEntry, type RunSnapshot, statusOf } from "@jetstep/core";
import type { RunEnd, RunMetrics } from "@jetstep/telemetry";

export function countLanded(
  metrics: RunMetrics,
  before: RunSnapshot,
  after: RunSnapshot,
  entries: readonly RunLogEntry[],
): void {
  const ctx = after.context;
  const { fnId, appId } = ctx;
  for (const e of entries) {
    if (e.type === "run.scheduled") metrics.runStarted(e.fnId, e.appId);
    else if (e.type === "step.completed" || e.type === "step.errored" || e.type === "step.failed")
      metrics.stepAttempt(fnId, appId, ATTEMPT_OUTCOME[e.type], e.ts - e.startedAt);
  }
  const status = statusOf(after);
  const was = statusOf(before);
  if ((isActive(was) || was === "empty") && !isActive(status) && status !== "empty") {
    const end = publicStatus(status, ctx).toLowerCase() as RunEnd;
    const last = entries.at(-1)?.ts ?? ctx.createdAt;
    metrics.runEnded(fnId, appId, end, (ctx.endedAt ?? last) - ctx.createdAt);
  }
}

const ATTEMPT_OUTCOME = {
  "step.completed": "completed",
  "step.errored": "errored",
  "step.failed": "failed",
} as const;
