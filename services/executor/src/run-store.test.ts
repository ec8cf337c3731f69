/**
 * RunStore keeps no copy that could be behind its log: a task on a run that fails drops the run's
 * actor (an append that timed out may have landed), and a run read with an empty log is not kept
 * (its previous owner may be creating it right now).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunLogEntry } from "@jetstep/core";
import type { LogMessage, RunLog, SnapshotStore } from "@jetstep/jetstream";
import { RunStore } from "./run-store.ts";

/** A run log held in memory, counting reads. */
function memoryLog(messages: LogMessage[]): { log: RunLog; reads: () => number } {
  let reads = 0;
  const log = {
    read: async (_runId: string, afterSeq = 0) => {
      reads++;
      return messages.filter((m) => m.seq > afterSeq);
    },
  } as unknown as RunLog;
  return { log, reads: () => reads };
}
const noSnapshots = { get: async () => null } as unknown as SnapshotStore;

const scheduled: RunLogEntry = {
  n: 1,
  ts: 1,
  type: "run.scheduled",
  runId: "R1",
  fnId: "app-fn",
  appId: "app",
  url: "http://127.0.0.1:1/api",
  maxAttempts: 1,
  partition: 0,
  event: { id: "e1", name: "x", data: {}, ts: 1 },
  events: [{ id: "e1", name: "x", data: {}, ts: 1 }],
};

describe("RunStore", () => {
  it("keeps a run's actor between tasks", async () => {
    const { log, reads } = memoryLog([{ seq: 5, entries: [scheduled] }]);
    const store = new RunStore(log, noSnapshots, 100);
    await store.withActor("R1", async (a) => assert.equal(a.lastSeq, 5));
    await store.withActor("R1", async () => undefined);
    assert.equal(reads(), 1);
  });

  it("reads the run again after a task on it failed", async () => {
    const { log, reads } = memoryLog([{ seq: 5, entries: [scheduled] }]);
    const store = new RunStore(log, noSnapshots, 100);
    await assert.rejects(
      store.withActor("R1", async (a) => {
        a.lastSeq = 99; // what an append that "failed" but landed would leave behind
        throw new Error("append timed out");
      }),
      /append timed out/,
    );
    await store.withActor("R1", async (a) => assert.equal(a.lastSeq, 5, "read from the log again"));
    assert.equal(reads(), 2);
  });

  it("does not keep a run whose log is empty", async () => {
    const messages: LogMessage[] = [];
    const { log, reads } = memoryLog(messages);
    const store = new RunStore(log, noSnapshots, 100);
    await store.withActor("R1", async (a) => assert.equal(a.lastSeq, 0));
    messages.push({ seq: 7, entries: [scheduled] }); // created meanwhile by the previous owner
    await store.withActor("R1", async (a) => assert.equal(a.lastSeq, 7));
    assert.equal(reads(), 2);
    assert.equal(store.hotCount, 1);
  });
});
