/**
 * SNAPSHOTS: one key per run (`snap.<runId>`) holding its state at a log sequence, so a rebuild
 * replays only the log after it (`readRun`). Written by the run's owner; read by anyone.
 */
import { Keys, type PersistedRun } from "@jetstep/core";
import type { KV } from "@nats-io/kv";

/** A run's state as stored: `run` is what the log held up to stream sequence `seq`. */
export interface StoredSnapshot {
  seq: number;
  run: PersistedRun;
}

export class SnapshotStore {
  constructor(private readonly kv: KV) {}

  /** The run's snapshot, if it has one (deleted or never written: undefined). */
  async get(runId: string): Promise<StoredSnapshot | undefined> {
    const e = await this.kv.get(Keys.snapshot(runId));
    return e && e.operation === "PUT" ? e.json<StoredSnapshot>() : undefined;
  }

  /**
   * Stores `snapshot` as the run's, unless its JSON is over `maxBytes` (the server's max_payload:
   * a run with thousands of steps). Resolves whether it was stored.
   */
  async save(runId: string, snapshot: StoredSnapshot, maxBytes = Number.POSITIVE_INFINITY): Promise<boolean> {
    const text = JSON.stringify(snapshot);
    if (text.length > maxBytes || Buffer.byteLength(text) > maxBytes) return false;
    await this.kv.put(Keys.snapshot(runId), text);
    return true;
  }

  /** Purges the run's snapshot (one purge marker is left), so its next rebuild replays the log. */
  async drop(runId: string): Promise<void> {
    await this.kv.purge(Keys.snapshot(runId));
  }
}
