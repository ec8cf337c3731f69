import { type AnyActorScope, createActor, initialTransition } from "xstate";
import { ReplayError } from "./errors.ts";
import type { RunContext } from "./run-context.ts";
import { runMachine } from "./run-machine.ts";
import type { RunStatus } from "./run-status.ts";
import { inBatch } from "./run-steps.ts";
import { type RunLogEntry, RunLogEntrySchema } from "./schemas/log.ts";

export type RunSnapshot = ReturnType<typeof runMachine.resolveState>;

/** The persisted form of a snapshot (SNAPSHOTS bucket): plain JSON. */
export interface PersistedRun {
  status: RunStatus;
  context: RunContext;
}

/**
 * The scope every transition runs in. xstate's `transition()` builds a new actor (and runs the
 * machine's initial state) for each call, 40–50 µs per applied entry — most of the cost of applying
 * one. The run machine has no effects for a scope to carry (only `assign`; no spawns, no delays, no
 * emits), so one inert scope serves every run, and the actions it hands back are dropped as before.
 */
let inertScope: AnyActorScope | undefined;
function scope(): AnyActorScope {
  if (!inertScope) {
    const self = createActor(runMachine);
    inertScope = {
      self,
      id: "",
      sessionId: "",
      system: self.system,
      logger: () => {},
      defer: () => {},
      emit: () => {},
      stopChild: () => {},
      actionExecutor: () => {},
    };
  }
  return inertScope;
}

let initial: RunSnapshot | undefined;

/** The snapshot before the first entry (shared: snapshots are never mutated, only replaced). */
export function initialRun(): RunSnapshot {
  initial ??= initialTransition(runMachine)[0];
  return initial;
}

export function statusOf(snapshot: RunSnapshot): RunStatus {
  return snapshot.value as RunStatus;
}

export function persist(snapshot: RunSnapshot): PersistedRun {
  return { status: statusOf(snapshot), context: snapshot.context };
}

export function restore(persisted: PersistedRun): RunSnapshot {
  return runMachine.resolveState({ value: persisted.status, context: upgradeContext(persisted.context) });
}

/** A context persisted before run specs: `throttleUntil` and `deadlines` under their spec names. */
interface LegacyContext {
  throttleUntil?: number;
  deadlines?: { startBy?: number; start?: string; finishBy?: number; finish?: string };
}

/**
 * A persisted context in today's form. Snapshots written before run specs named `startAt`
 * `throttleUntil` and kept `timeouts` as `deadlines` with an absolute finish time.
 */
export function upgradeContext(context: RunContext): RunContext {
  const legacy = context as RunContext & LegacyContext;
  if (legacy.throttleUntil === undefined && legacy.deadlines === undefined) return context;
  const { throttleUntil, deadlines, ...rest } = legacy;
  const upgraded: RunContext = { ...rest };
  if (throttleUntil !== undefined) upgraded.startAt = throttleUntil;
  if (deadlines) {
    const { finishBy, ...timeouts } = deadlines;
    upgraded.timeouts = {
      ...timeouts,
      ...(finishBy !== undefined ? { finishAfterMs: Math.max(0, finishBy - context.createdAt) } : {}),
    };
  }
  return upgraded;
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
  return runMachine.transition(snapshot, entry, scope());
}

/** Folds a whole log (or the tail after `from`) into a snapshot (one batch: `from` is left as it was). */
export function replay(entries: readonly unknown[], from: RunSnapshot = initialRun()): RunSnapshot {
  return inBatch(() => {
    let snapshot = from;
    for (const entry of entries) snapshot = apply(snapshot, entry);
    return snapshot;
  });
}

/**
 * Applies typed entries in order as one batch (see `inBatch`): entries the state does not accept
 * are passed to `rejected` and skipped. Returns the entries applied and the state after them;
 * `from` is left as it was.
 */
export function applyEntries<T extends RunLogEntry>(
  from: RunSnapshot,
  entries: readonly T[],
  rejected: (entry: T, err: unknown) => void = (_e, err) => {
    throw err;
  },
): { applied: T[]; after: RunSnapshot } {
  return inBatch(() => {
    let after = from;
    const applied: T[] = [];
    for (const e of entries) {
      try {
        after = applyEntry(after, e);
        applied.push(e);
      } catch (err) {
        rejected(e, err);
      }
    }
    return { applied, after };
  });
}
