/**
 * A run's status (the run machine's state) and what is shown of it: the user-facing phase, and
 * the status Inngest's REST API reports.
 */
import type { RunContext } from "./run-context.ts";
import { isFinal, isTimed } from "./run-steps.ts";

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
