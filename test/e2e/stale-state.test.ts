/**
 * Runs whose in-memory or stored state is out of step with their log still resume:
 * - a run first seen while its log was empty (being created by the partition's previous owner) is
 *   resumed once its log has it, instead of staying a cached empty copy that no kick moves;
 * - a run whose snapshot is ahead of its log (a server that lost the log's tail) drops the
 *   snapshot at the first conflicting append and goes on from the log, instead of conflicting on
 *   every append forever.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ActiveRun, Keys, persist, type RunLogEntry, replay, ulid } from "@jetstep/core";
import {
  connectNats,
  type JetstepBuckets,
  type Nats,
  openBuckets,
  Publisher,
  RunLog,
  type StoredSnapshot,
} from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { getRun, type ServedApp, type Stack, startApp, startStack } from "./harness.ts";

describe("stale run state", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let nats: Nats;
  let buckets: JetstepBuckets;
  let publisher: Publisher;
  let runLog: RunLog;
  let appUrl = "";
  const calls = new Map<string, number>();

  before(async () => {
    stack = await startStack({ reconcileMs: 300 });
    const client = new Jetstep({ id: "stale", baseUrl: stack.url });
    const fn = client.createFunction(
      { id: "two" },
      { event: "stale/never-sent" },
      async ({ step, runId }) => {
        const a = await step.run("a", () => {
          calls.set(`${runId}:a`, (calls.get(`${runId}:a`) ?? 0) + 1);
          return 1;
        });
        const b = await step.run("b", () => {
          calls.set(`${runId}:b`, (calls.get(`${runId}:b`) ?? 0) + 1);
          return 2;
        });
        return a + b;
      },
    );
    app = await startApp(stack.url, "stale", serve({ client, functions: [fn] }));
    appUrl = app.url;
    nats = await connectNats({ servers: stack.nats.url });
    buckets = await openBuckets(nats, { replicas: 1 });
    publisher = new Publisher(nats.nc);
    runLog = new RunLog(nats.jsm, publisher);
  });
  after(async () => {
    await app?.close();
    publisher?.close();
    await nats?.close();
    await stack?.stop();
  });

  /** A `run.scheduled` entry for a new run of `stale-two` in a partition the executor owns. */
  function scheduled(runId: string): RunLogEntry {
    const partition = stack.runtime.executor.ownedPartitions()[0] as number;
    const now = Date.now();
    const event = { id: `evt-${runId}`, name: "stale/never-sent", data: {}, ts: now };
    return {
      n: 1,
      ts: now,
      type: "run.scheduled",
      runId,
      fnId: "stale-two",
      appId: "stale",
      url: `${appUrl}?fnId=stale-two&stepId=step`,
      maxAttempts: 1,
      partition,
      event,
      events: [event],
    };
  }

  async function markDue(entry: RunLogEntry & { type: "run.scheduled" }): Promise<void> {
    const marker: ActiveRun = { fnId: entry.fnId, createdAt: entry.ts };
    await buckets.active.put(Keys.active(entry.partition, entry.runId), JSON.stringify(marker));
  }

  async function completed(runId: string): Promise<unknown> {
    const run = await waitFor(
      async () => {
        const r = await getRun(stack.url, runId);
        return r?.status === "Completed" ? r : null;
      },
      { timeoutMs: 20_000, message: `run ${runId} never completed` },
    );
    return run.output;
  }

  it("resumes a run first seen with an empty log once its log has it", async () => {
    const runId = ulid(Date.now(), Math.random);
    const entry = scheduled(runId) as RunLogEntry & { type: "run.scheduled" };
    // Marked due before its first entry exists: a reconcile pass (every 300 ms) reads its empty log.
    // Seen on the wire: the executor's direct get on RUNS that names the run, then the due-run
    // listings of two later passes (that read has long been answered by then).
    let read = false;
    let listingsAfter = 0;
    const sub = nats.nc.subscribe("$JS.API.>", {
      callback: (_err, m) => {
        if (read && m.subject.startsWith("$JS.API.CONSUMER.CREATE.KV_JETSTEP_ACTIVE.")) listingsAfter++;
        if (m.subject.includes(".DIRECT.GET.RUNS_") && m.string().includes(runId)) read = true;
      },
    });
    await markDue(entry);
    await waitFor(() => listingsAfter >= 2, { timeoutMs: 10_000, message: "the empty run was never read" });
    sub.unsubscribe();
    assert.ok((await runLog.append(runId, [entry], 0)).ok);
    assert.equal(await completed(runId), 3);
  });

  it("drops a snapshot that is ahead of the run's log and goes on from the log", async () => {
    const runId = ulid(Date.now(), Math.random);
    const entry = scheduled(runId) as RunLogEntry & { type: "run.scheduled" };
    const appended = await runLog.append(runId, [entry], 0);
    assert.ok(appended.ok);
    // A snapshot claiming the log goes 1,000 messages further than it does.
    const ahead: StoredSnapshot = { seq: appended.seq + 1000, run: persist(replay([entry])) };
    await buckets.snapshots.put(Keys.snapshot(runId), JSON.stringify(ahead));
    await markDue(entry);
    assert.equal(await completed(runId), 3);
    assert.equal(calls.get(`${runId}:b`), 1, "step b ran once");
  });
});
