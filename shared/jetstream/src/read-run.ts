import { initialRun, type RunSnapshot, replay, restore } from "@jetstep/core";
import type { RunLog } from "./run-log.ts";
import type { SnapshotStore } from "./snapshot-store.ts";

export interface LoadedRun {
  snapshot: RunSnapshot;
  /** Stream sequence of the run's last log message (0: the log is empty). */
  lastSeq: number;
  /** Entries read after the snapshot (all of them without one): what a rebuild replays. */
  tail: number;
}

/** What `readRun` needs of SNAPSHOTS (a `SnapshotStore`; tests give a stand-in). */
export type SnapshotReader = Pick<SnapshotStore, "get">;

/** Rebuilds a run: the snapshot from SNAPSHOTS (if any) plus the log's tail by direct gets. */
export async function readRun(runLog: RunLog, snapshots: SnapshotReader, runId: string): Promise<LoadedRun> {
  let snapshot = initialRun();
  let lastSeq = 0;
  const stored = await snapshots.get(runId);
  if (stored) {
    snapshot = restore(stored.run);
    lastSeq = stored.seq;
  }
  const messages = await runLog.read(runId, lastSeq);
  // One batch (core `replay`): applied one by one, every entry copied the run's steps, so reading a
  // fan-out parent with 3,000 steps cost seconds.
  const entries = messages.flatMap((m) => m.entries);
  snapshot = replay(entries, snapshot);
  lastSeq = messages.at(-1)?.seq ?? lastSeq;
  return { snapshot, lastSeq, tail: entries.length };
}
