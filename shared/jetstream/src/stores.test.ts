/**
 * The bucket stores against a real nats-server: values as earlier versions wrote them still read,
 * a lost compare-and-set is `{ ok: false }` (never a NATS error), and missing keys are undefined.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  Buckets,
  type FunctionRollup,
  Keys,
  MINUTE_MS,
  RollupAccumulator,
  type WaitRecord,
} from "@jetstep/core";
import { type NatsServerHandle, startNatsServer, waitFor } from "../../../test/support/index.ts";
import { ActiveStore } from "./active-store.ts";
import { connectNats, type Nats } from "./connection.ts";
import { EventRunsStore } from "./event-runs-store.ts";
import { FlowStore } from "./flow-store.ts";
import { IdempotencyStore } from "./idempotency-store.ts";
import { DebounceStore } from "./json-store.ts";
import { storedPartitionCount } from "./partitions.ts";
import { Publisher } from "./publisher.ts";
import { RollupLog } from "./rollups.ts";
import { MetadataStore } from "./run-metadata.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import { ensureStreams, type JetstepBuckets, openBuckets } from "./streams.ts";
import { scanKvKeys } from "./subject-scan.ts";
import { SyncStatusStore } from "./sync-status-store.ts";
import { WaitsStore } from "./waits-store.ts";

describe("bucket stores (real nats-server)", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let publisher: Publisher;
  let buckets: JetstepBuckets;

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
    await ensureStreams(nats.jsm, { replicas: 1 });
    buckets = await openBuckets(nats, { replicas: 1 });
    publisher = new Publisher(nats.nc);
  });
  after(async () => {
    publisher.close();
    await nats.close();
    await server.stop();
  });

  it("RollupLog: reads a function's records of a range, across batches, and nothing from an empty range", async () => {
    const log = new RollupLog(nats, publisher);
    const minuteNow = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    assert.deepEqual(await log.read("fn.a/b", minuteNow - 60 * MINUTE_MS, minuteNow + MINUTE_MS), []);
    const record = (fnId: string, minute: number, started: number): FunctionRollup => {
      const acc = new RollupAccumulator("exec", () => minute);
      acc.runStarted(fnId, "app");
      return { ...(acc.take()[0] as FunctionRollup), started };
    };
    // More than one batched get's worth (1,000) for the function, and another function between them.
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 1_200; i++) {
      appends.push(log.append(record("fn.a/b", minuteNow - (i % 3) * MINUTE_MS, 1)));
      if (i % 100 === 0) appends.push(log.append(record("other", minuteNow, 50)));
    }
    await Promise.all(appends);
    const all = await log.read("fn.a/b", minuteNow - 2 * MINUTE_MS, minuteNow + MINUTE_MS);
    assert.equal(all.length, 1_200);
    assert.ok(all.every((r) => r.fnId === "fn.a/b"));
    const lastMinute = await log.read("fn.a/b", minuteNow, minuteNow + MINUTE_MS);
    assert.equal(lastMinute.length, 400, "only the records of minutes in range");
    assert.deepEqual(await log.read("fn.a/b", minuteNow + 5 * MINUTE_MS, minuteNow + 9 * MINUTE_MS), []);
  });

  it("SnapshotStore: reads what was stored raw, skips one over maxBytes, and drops", async () => {
    const store = new SnapshotStore(buckets.snapshots);
    assert.equal(await store.get("NONE"), undefined);
    // As the executor wrote snapshots before the store existed.
    const old = { seq: 7, run: { status: "running" } };
    await buckets.snapshots.put(Keys.snapshot("OLD"), JSON.stringify(old));
    assert.deepEqual(await store.get("OLD"), old);
    const snap = { seq: 3, run: { x: 1 } } as never;
    assert.equal(await store.save("R1", snap, 5), false, "over maxBytes: not stored");
    assert.equal(await store.get("R1"), undefined);
    assert.equal(await store.save("R1", snap), true);
    assert.deepEqual(await store.get("R1"), snap);
    await store.drop("R1");
    assert.equal(await store.get("R1"), undefined);
    assert.equal((await buckets.snapshots.get(Keys.snapshot("R1")))?.operation, "PURGE", "purged");
  });

  it("FlowStore: create, a lost create, a stale update and an update over a delete marker", async () => {
    const store = new FlowStore(buckets.flow);
    assert.equal(await store.get("rate.f.k"), undefined);
    const created = await store.compareAndSet("rate.f.k", "100", undefined);
    assert.ok(created.ok);
    assert.deepEqual(await store.compareAndSet("rate.f.k", "200", undefined), { ok: false }, "exists");
    const read = await store.get("rate.f.k");
    assert.deepEqual(read, { value: "100", revision: created.revision });
    const updated = await store.compareAndSet("rate.f.k", "300", read);
    assert.ok(updated.ok && updated.revision > created.revision);
    assert.deepEqual(await store.compareAndSet("rate.f.k", "400", read), { ok: false }, "stale revision");
    assert.equal((await store.get("rate.f.k"))?.value, "300");
    await buckets.flow.delete("rate.f.k");
    const deleted = await store.get("rate.f.k");
    assert.equal(deleted?.value, undefined, "a delete marker has no value");
    assert.ok(deleted && deleted.revision > 0);
    assert.ok((await store.compareAndSet("rate.f.k", "500", deleted)).ok, "written over the marker");
    assert.equal((await store.get("rate.f.k"))?.value, "500");
  });

  it("IdempotencyStore: the first run claims a key, the same run again too, another not", async () => {
    const store = new IdempotencyStore(buckets.idempotency);
    assert.equal(await store.claim("fn.k1", "RUN-A"), true);
    assert.equal(await store.claim("fn.k1", "RUN-A"), true, "a redelivered event");
    assert.equal(await store.claim("fn.k1", "RUN-B"), false);
    assert.equal((await buckets.idempotency.get("fn.k1"))?.string(), "RUN-A", "stored as before: the run id");
  });

  it("JsonStore (debounces): compare-and-set, delete at a revision only, and follow", async () => {
    const store = new DebounceStore<{ dueAt: number }>(buckets.debounces);
    const seen = new Map<string, number>();
    const follower = store.follow({
      onPut: (key, v) => seen.set(key, v.dueAt),
      onRemove: (key) => seen.delete(key),
      onWarn: () => undefined,
    });
    await follower.start();
    try {
      const first = await store.compareAndSet("d.k", { dueAt: 1 }, undefined);
      assert.ok(first.ok);
      assert.deepEqual(await store.compareAndSet("d.k", { dueAt: 9 }, undefined), { ok: false });
      const read = await store.get("d.k");
      assert.deepEqual(read, { value: { dueAt: 1 }, revision: first.revision });
      const second = await store.compareAndSet("d.k", { dueAt: 2 }, read);
      assert.ok(second.ok);
      await waitFor(() => seen.get("d.k") === 2, { timeoutMs: 5000 });
      assert.equal(await store.removeAt("d.k", first.revision), false, "changed since: kept");
      assert.equal((await store.get("d.k"))?.value?.dueAt, 2);
      assert.equal(await store.removeAt("d.k", second.revision), true);
      await waitFor(() => !seen.has("d.k"), { timeoutMs: 5000 });
    } finally {
      follower.stop();
    }
  });

  it("EventRunsStore: reads records written raw, puts, and records through the publisher", async () => {
    const store = new EventRunsStore(buckets.eventRuns, publisher);
    assert.equal(await store.get("nope"), undefined);
    const old = { eventId: "E1", name: "a/b", ts: 1, seq: 2, runs: [{ runId: "R", fnId: "f" }] };
    await buckets.eventRuns.put(Keys.eventRuns("E1"), JSON.stringify(old));
    assert.deepEqual(await store.get("E1"), old);
    await store.put({ ...old, runs: [] });
    assert.deepEqual((await store.get("E1"))?.runs, []);
    await store.record({ ...old, eventId: "E 2" });
    assert.equal((await store.get("E 2"))?.name, "a/b", "escaped key, as Keys.eventRuns has it");
  });

  it("WaitsStore: put and remove through the publisher, followed with parsed records", async () => {
    const store = new WaitsStore(buckets.waits, publisher);
    const seen = new Map<string, WaitRecord>();
    const follower = store.follow({
      onPut: (key, w) => seen.set(key, w),
      onRemove: (key) => seen.delete(key),
      onWarn: () => undefined,
    });
    await follower.start();
    try {
      const wait: WaitRecord = {
        runId: "RUNW",
        fnId: "f",
        partition: 1,
        waitId: "w",
        kind: "step",
        event: "x/y",
        afterSeq: 0,
        trigger: { id: "e", name: "t", data: {}, ts: 1 },
      };
      const key = Keys.wait("x/y", "RUNW", "w");
      await buckets.waits.put("junk.key", "not json"); // skipped, not reported
      await store.put(key, wait);
      await waitFor(() => seen.has(key), { timeoutMs: 5000 });
      assert.deepEqual(seen.get(key), wait);
      assert.ok(!seen.has("junk.key"));
      await store.remove(key);
      await waitFor(() => !seen.has(key), { timeoutMs: 5000 });
    } finally {
      follower.stop();
    }
  });

  it("ActiveStore: marks, lists (ordered and scanned), reads entries, erases", async () => {
    const store = new ActiveStore(buckets.active, nats, publisher);
    await store.mark(Keys.active(9, "RA"), { fnId: "f", createdAt: 1 });
    await store.mark(Keys.parked(9, "RB"), { fnId: "g", createdAt: 2 });
    assert.deepEqual(await store.listKeys("p9.>"), ["p9.RA"]);
    assert.deepEqual(await store.scanKeys("p9.>"), ["p9.RA"]);
    const entries: { key: string; fnId: string }[] = [];
    for await (const e of store.entries())
      if (e.key.endsWith("RA") || e.key.endsWith("RB")) entries.push({ key: e.key, fnId: e.run.fnId });
    assert.deepEqual(
      entries.sort((a, b) => a.key.localeCompare(b.key)),
      [
        { key: "p9.RA", fnId: "f" },
        { key: "q9.RB", fnId: "g" },
      ],
    );
    await store.erase("p9.RA");
    await store.erase("p9.never-there");
    assert.deepEqual(await store.scanKeys("p9.>"), []);
  });

  it("MetadataStore and the stored partition count", async () => {
    const store = new MetadataStore(buckets.metadata);
    assert.equal(await store.read("RM"), null);
    const next = await store.update("RM", undefined, [{ kind: "score", op: "set", values: { a: 1 } }]);
    assert.deepEqual(await store.read("RM"), next);
    assert.deepEqual(next.run, { score: { a: 1 } });
    assert.equal(await storedPartitionCount(buckets.leases), undefined);
    await buckets.leases.put(Keys.partitionCount, "12");
    assert.equal(await storedPartitionCount(buckets.leases), 12);
  });

  it("SyncStatusStore: puts, updates only what is listed, lists unreadable values as such", async () => {
    const store = new SyncStatusStore<{ url: string; ok: boolean }>(buckets.functions, nats.jsm);
    assert.equal(await store.putIfPresent("sync.a", { url: "a", ok: true }), false, "not listed");
    assert.equal(await buckets.functions.get("sync.a"), null);
    await store.put("sync.a", { url: "a", ok: false });
    assert.equal(await store.putIfPresent("sync.a", { url: "a", ok: true }), true);
    await buckets.functions.put("sync.b", "{broken");
    const consumers = async () =>
      (await nats.jsm.streams.info(`KV_${Buckets.functions}`)).state.consumer_count;
    const before = await consumers();
    const listed = (await store.list("sync.>")).sort((x, y) => x.key.localeCompare(y.key));
    assert.equal(await consumers(), before, "listed without a consumer (the UI polls this)");
    assert.deepEqual(listed, [
      { key: "sync.a", value: { url: "a", ok: true } },
      { key: "sync.b", value: undefined },
    ]);
    await store.remove("sync.a");
    await store.remove("sync.b");
    assert.deepEqual(await store.list("sync.>"), []);
  });

  it("SyncStatusStore: a key written or deleted while it lists is listed once, as it ends up", async () => {
    type St = { url: string; n: number };
    await buckets.functions.put("sync.m1", JSON.stringify({ url: "m1", n: 1 }));
    await buckets.functions.put("sync.m2", JSON.stringify({ url: "m2", n: 1 }));
    await buckets.functions.put("sync.m3", JSON.stringify({ url: "m3", n: 1 }));
    // Once the scan has read m1 and m2, m1 is written again (its new message lies past m3's) and
    // m2 is deleted (its marker lies past too): what a sync pass met while listing.
    let first = true;
    const jsm = {
      ...nats.jsm,
      streams: {
        ...nats.jsm.streams,
        getMessage: async (...args: Parameters<typeof nats.jsm.streams.getMessage>) => {
          const m = await nats.jsm.streams.getMessage(...args);
          if (first && m?.subject.endsWith(".sync.m2")) {
            first = false;
            await buckets.functions.put("sync.m1", JSON.stringify({ url: "m1", n: 2 }));
            await buckets.functions.delete("sync.m2");
          }
          return m;
        },
      },
    } as typeof nats.jsm;
    const listed = await new SyncStatusStore<St>(buckets.functions, jsm).list("sync.>");
    assert.deepEqual(
      listed.sort((x, y) => x.key.localeCompare(y.key)),
      [
        { key: "sync.m1", value: { url: "m1", n: 2 } },
        { key: "sync.m3", value: { url: "m3", n: 1 } },
      ],
    );
    // Keys alone (scanKvKeys, as membership and due-run listings read them) are met the same way.
    await buckets.functions.put("sync.m2", JSON.stringify({ url: "m2", n: 1 }));
    await buckets.functions.put("sync.m1", JSON.stringify({ url: "m1", n: 3 }));
    first = true;
    const keys: string[] = [];
    for await (const key of scanKvKeys(jsm, Buckets.functions, "sync.>")) keys.push(key);
    assert.deepEqual(keys.sort(), ["sync.m1", "sync.m3"]);
  });
});
