import { apply, initialRun, Keys, type PersistedRun, type RunSnapshot, restore } from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import type { RunLog } from "./run-log.ts";

export interface StoredSnapshot {
  seq: number;
  run: PersistedRun;
}

export interface LoadedRun {
  snapshot: RunSnapshot;
  /** Stream sequence of the run's last log message (0: the log is empty). */
  lastSeq: number;
}

/** Rebuilds a run: the snapshot from SNAPSHOTS (if any) plus the log's tail by direct gets. */
export async function readRun(runLog: RunLog, snapshots: KV, runId: string): Promise<LoadedRun> {
  let snapshot = initialRun();
  let lastSeq = 0;
  const snap = await snapshots.get(Keys.snapshot(runId));
  if (snap && snap.operation === "PUT") {
    const stored = snap.json<StoredSnapshot>();
    snapshot = restore(stored.run);
    lastSeq = stored.seq;
  }
  for (const m of await runLog.read(runId, lastSeq)) {
    for (const e of m.entries) snapshot = apply(snapshot, e);
    lastSeq = m.seq;
  }
  return { snapshot, lastSeq };
}
