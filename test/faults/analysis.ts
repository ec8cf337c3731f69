/**
 * The step-level figures of a fault scenario, from two records kept by different parties: the run
 * logs (when Jetstep recorded each step's result: the stored timestamp of the message holding its
 * `step.completed`) and the app's EXEC_LOG (when each step body started). Pure: measure.ts reads
 * both.
 *
 * A body that started after its result was recorded ran a memoized step again: the one thing a
 * durable runtime must never do. Extra starts before the record (a call cut by a crash and
 * retried) are allowed, and counted.
 */

/** When the fault was injected, and when the faulty component was started (or continued) again. */
export interface FaultTimes {
  faultAt: number;
  restartAt: number;
}

/** A run's log as the analysis needs it (times in ms). */
export interface RunLogView {
  /** When the message holding `run.scheduled` was stored. */
  scheduledAt: number | undefined;
  /** When the message holding the run's end was stored. */
  endedAt: number | undefined;
  /** Every message's time, in log order. */
  times: number[];
  /** Step name → times of the messages holding its `step.completed` (more than one is a bug). */
  records: Map<string, number[]>;
}

/** runId → step name → start times of its body. */
export type ExecStarts = Map<string, Map<string, number[]>>;

export interface LateStart {
  runId: string;
  step: string;
  recordedAt: number;
  startedAt: number[];
}

/** A step whose body started more than once before its result was recorded (or never recorded). */
export interface ReExecution {
  runId: string;
  step: string;
  startedAt: number[];
  recordedAt: number | undefined;
}

export interface StepFindings {
  startedAfterRecorded: LateStart[];
  reExecuted: ReExecution[];
  /** Steps whose result was recorded more than once. */
  recordedTwice: { runId: string; step: string; times: number }[];
  /** From the restart to the first step recorded after it. */
  recoveryMs: number | undefined;
  /** The longest a run in flight at the fault waited for its next log entry after the fault. */
  stallMs: number | undefined;
  /** From the fault to the end of the last run. */
  lastEndMs: number | undefined;
}

/** EXEC_LOG lines `<runId> <step> <ms>`; a line cut short by a crash is skipped. */
export function parseExecLog(text: string): ExecStarts {
  const starts: ExecStarts = new Map();
  for (const line of text.split("\n")) {
    const [runId, step, ms, extra] = line.split(" ");
    if (!runId || !step || !ms || extra !== undefined || !/^\d+$/.test(ms)) continue;
    const steps = starts.get(runId) ?? new Map<string, number[]>();
    steps.set(step, [...(steps.get(step) ?? []), Number(ms)]);
    starts.set(runId, steps);
  }
  return starts;
}

/** The findings over `logs`; starts of runs not in `logs` are ignored. */
export function analyse(
  logs: ReadonlyMap<string, RunLogView>,
  starts: ExecStarts,
  fault: FaultTimes,
): StepFindings {
  const findings: StepFindings = {
    startedAfterRecorded: [],
    reExecuted: [],
    recordedTwice: [],
    recoveryMs: undefined,
    stallMs: undefined,
    lastEndMs: undefined,
  };
  let firstAfterRestart: number | undefined;
  let lastEnd: number | undefined;
  for (const [runId, log] of logs) {
    for (const [step, times] of log.records) {
      if (times.length > 1) findings.recordedTwice.push({ runId, step, times: times.length });
      const first = times[0];
      if (first !== undefined && first >= fault.restartAt)
        firstAfterRestart = Math.min(firstAfterRestart ?? first, first);
    }
    for (const [step, bodyStarts] of starts.get(runId) ?? []) {
      const recordedAt = log.records.get(step)?.[0];
      // Same millisecond counts as before: the clocks tick in whole ms.
      const after = recordedAt === undefined ? [] : bodyStarts.filter((t) => t > recordedAt);
      const before = recordedAt === undefined ? bodyStarts : bodyStarts.filter((t) => t <= recordedAt);
      if (recordedAt !== undefined && after.length > 0)
        findings.startedAfterRecorded.push({ runId, step, recordedAt, startedAt: after });
      if (before.length > 1) findings.reExecuted.push({ runId, step, startedAt: before, recordedAt });
    }
    const inFlight =
      log.scheduledAt !== undefined &&
      log.scheduledAt < fault.faultAt &&
      !(log.endedAt !== undefined && log.endedAt <= fault.faultAt);
    const next = log.times.find((t) => t > fault.faultAt);
    if (inFlight && next !== undefined)
      findings.stallMs = Math.max(findings.stallMs ?? 0, next - fault.faultAt);
    if (log.endedAt !== undefined) lastEnd = Math.max(lastEnd ?? log.endedAt, log.endedAt);
  }
  if (firstAfterRestart !== undefined) findings.recoveryMs = firstAfterRestart - fault.restartAt;
  if (lastEnd !== undefined) findings.lastEndMs = lastEnd - fault.faultAt;
  return findings;
}
