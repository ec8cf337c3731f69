import { initialTransition, transition } from "xstate";
import { ReplayError } from "./errors.ts";
import { type RunContext, type RunStatus, runMachine } from "./run-machine.ts";
import { type RunLogEntry, RunLogEntrySchema } from "./schemas/log.ts";

export type RunSnapshot = ReturnType<typeof runMachine.resolveState>;

/** The persisted form of a snapshot (SNAPSHOTS bucket): plain JSON. */
export interface PersistedRun {
  status: RunStatus;
  context: RunContext;
}

export function initialRun(): RunSnapshot {
  const [snapshot] = initialTransition(runMachine);
  return snapshot;
}

export function statusOf(snapshot: RunSnapshot): RunStatus {
  return snapshot.value as RunStatus;
}

export function persist(snapshot: RunSnapshot): PersistedRun {
  return { status: statusOf(snapshot), context: snapshot.context };
}

export function restore(persisted: PersistedRun): RunSnapshot {
  return runMachine.resolveState({ value: persisted.status, context: persisted.context });
}

/**
 * Applies one log entry. Throws ReplayError when the entry is malformed, out of order (its `n`
 * is not the next position) or not accepted in the current state (e.g. a second completion of
 * a step, anything after the run ended). Pure: no I/O, no clock.
 */
export function apply(snapshot: RunSnapshot, raw: unknown, index = snapshot.context.lastN): RunSnapshot {
  const parsed = RunLogEntrySchema.safeParse(raw);
  if (!parsed.success) {
    throw new ReplayError(
      index + 1,
      `malformed entry: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return applyEntry(snapshot, parsed.data);
}

/**
 * Like `apply` for an entry the caller built itself (typed, so schema parsing is skipped); order
 * and acceptance are still checked.
 */
export function applyEntry(snapshot: RunSnapshot, entry: RunLogEntry): RunSnapshot {
  const expected = snapshot.context.lastN + 1;
  if (entry.n !== expected) {
    throw new ReplayError(entry.n, `out of order: expected entry ${expected}, got ${entry.n}`);
  }
  if (!snapshot.can(entry)) {
    throw new ReplayError(
      entry.n,
      `"${entry.type}" is not accepted while the run is ${String(snapshot.value)}`,
    );
  }
  const [next] = transition(runMachine, snapshot, entry);
  return next;
}

/** Folds a whole log (or the tail after `from`) into a snapshot. */
export function replay(entries: readonly unknown[], from: RunSnapshot = initialRun()): RunSnapshot {
  let snapshot = from;
  for (const entry of entries) snapshot = apply(snapshot, entry);
  return snapshot;
}
