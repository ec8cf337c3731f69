import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Buckets, type RunLogEntry, Streams } from "@jetstep/core";
import { TimeoutError } from "@nats-io/transport-node";
import { type NatsServerHandle, startNatsServer, waitFor } from "../../../test/support/index.ts";
import { request } from "./bus.ts";
import { ConnectionLostError, connectNats, type Nats } from "./connection.ts";
import { isConflict, isNotFound } from "./errors.ts";
import { leaseMarginMs, PartitionLeases } from "./leases.ts";
import { Membership } from "./membership.ts";
import { Publisher } from "./publisher.ts";
import { Registry } from "./registry.ts";
import { RunLog } from "./run-log.ts";
import { ensureStreams, type JetstepBuckets, openBuckets } from "./streams.ts";
import { eraseKvKey, listKvKeys, ReadPath, scanKvKeys, scanSubjects } from "./subject-scan.ts";
import { TimerStore } from "./timers.ts";

describe("jetstream layer (real nats-server)", () => {
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

  it("registry watch is ready when the functions bucket holds only sync statuses (no app yet)", async () => {
    // Regression: a restart after a failed app sync left `sync.*` keys but no `app.*` key, and the
    // watch waited forever for an app entry.
    await buckets.functions.put("sync.someurl", JSON.stringify({ url: "http://x", ok: false }));
    const registry = new Registry(buckets.functions);
    await registry.watch();
    assert.deepEqual(registry.functions(), []);
    registry.stop();
    await buckets.functions.delete("sync.someurl");
  });

  it("registry: a watch entry older than a removal made here does not list the app again", async () => {
    // The watch's entries wait until released, one by one: a watch lagging under load.
    const releases: (() => void)[] = [];
    let holding = false;
    const kv = buckets.functions;
    const lagging = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop !== "watch") return Reflect.get(target, prop, receiver);
        return async (opts: Parameters<typeof kv.watch>[0]) => {
          const iter = await target.watch(opts);
          return {
            stop: () => iter.stop(),
            async *[Symbol.asyncIterator]() {
              for await (const e of iter) {
                if (holding) await new Promise<void>((r) => releases.push(r));
                yield e;
              }
            },
          };
        };
      },
    });
    const registry = new Registry(lagging);
    await registry.watch();
    holding = true;
    const app = { appId: "lagged", url: "http://127.0.0.1:1/api", functions: [], syncedAt: 1 };
    await registry.put(app);
    assert.ok(await registry.remove("lagged"));
    assert.deepEqual(registry.listApps(), [], "removed at once, here");
    await waitFor(() => releases.length === 1, { timeoutMs: 5000, message: "the put's watch entry" });
    releases.shift()?.(); // the registration's entry arrives after the removal
    await waitFor(() => releases.length === 1, { timeoutMs: 5000, message: "the delete's watch entry" });
    assert.deepEqual(registry.listApps(), [], "the late entry of the registration is ignored");
    holding = false;
    releases.shift()?.();
    registry.stop();
  });

  const entry = (n: number): RunLogEntry => ({ n, ts: n, type: "timer.fired", timerId: `t${n}` });

  it("appends with expected sequence, never twice, and reports conflicts", async () => {
    const log = new RunLog(nats.jsm, publisher);
    const a = await log.append("RUN1", [entry(1)], 0);
    assert.ok(a.ok);
    // A retried append whose first copy landed: nats-server >= 2.12 checks the expected sequence
    // before the msg id, so it is refused as a conflict (the executor then reloads the run, as for
    // a duplicate), and the log holds one copy.
    const again = await log.append("RUN1", [entry(1)], 0);
    assert.ok(!again.ok && again.conflict, "a retried append that landed is a conflict");
    const stale = await log.append("RUN1", [entry(2)], 0);
    assert.ok(!stale.ok && stale.conflict, "wrong expected sequence is a conflict");
    assert.ok(a.ok);
    const b = await log.append("RUN1", [entry(2), entry(3)], a.seq);
    assert.ok(b.ok);
    const read = await log.read("RUN1");
    assert.deepEqual(
      read.flatMap((m) => m.entries as RunLogEntry[]).map((e) => e.n),
      [1, 2, 3],
    );
    assert.deepEqual(await log.read("RUN1", b.ok ? b.seq : 0), []);
    assert.deepEqual(await log.read("NOPE"), []);
  });

  it("pipelines many publishes", async () => {
    const acks = await Promise.all(
      Array.from({ length: 2000 }, (_, i) =>
        publisher.publish(`run.0.P${i % 50}`, "[]", { msgId: `p-${i}` }),
      ),
    );
    assert.equal(acks.filter((a) => a.ok).length, 2000);
  });

  it("keeps at most maxInFlight publishes awaiting acks; the rest go in order as acks come", async () => {
    const windowed = new Publisher(nats.nc, 10_000, 8);
    try {
      const acks = Array.from({ length: 500 }, (_, i) =>
        windowed.publish(`run.0.W${i % 7}`, JSON.stringify(i), { msgId: `w-${i}` }),
      );
      assert.equal(windowed.queued, 492, "8 sent, 492 waiting");
      const results = await Promise.all(acks);
      assert.ok(results.every((r) => r.ok));
      const seqs = results.map((r) => (r.ok ? r.seq : 0));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        "stored in the order published",
      );
      assert.equal(windowed.queued, 0);
      // Closing rejects what still waits for a slot.
      const late = Array.from({ length: 20 }, (_, i) => windowed.publish(`run.0.L${i}`, "1"));
      windowed.close();
      const settled = await Promise.allSettled(late);
      assert.ok(settled.slice(8).every((r) => r.status === "rejected"));
    } finally {
      windowed.close();
    }
  });

  it("scans a subject by batched direct gets as the leader's MSG.GET does: every message, in order", async () => {
    await nats.jsm.streams.add({ name: "SCAN", subjects: ["scan.>"], allow_direct: true });
    const sent: number[] = [];
    // 700 small messages of one subject between others, then large ones (a batch reply is capped
    // in bytes, so it ends before its count).
    const acks = await Promise.all(
      Array.from({ length: 1400 }, (_, i) =>
        publisher.publish(i % 2 === 0 ? "scan.a" : "scan.b", JSON.stringify(i)),
      ),
    );
    for (const [i, a] of acks.entries()) if (i % 2 === 0 && a.ok) sent.push(a.seq);
    for (let i = 0; i < 12; i++) {
      const a = await publisher.publish("scan.a", "x".repeat(400_000));
      if (a.ok) sent.push(a.seq);
    }
    const read = async (direct: boolean, fromSeq = 1) => {
      const seqs: number[] = [];
      for await (const m of scanSubjects(nats.jsm, "SCAN", "scan.a", { direct, fromSeq })) seqs.push(m.seq);
      return seqs;
    };
    assert.deepEqual(await read(true), sent);
    assert.deepEqual(await read(false), sent);
    const mid = sent[500] as number;
    assert.deepEqual(await read(true, mid), sent.slice(500));
    assert.deepEqual(await read(true, (sent.at(-1) as number) + 1), []);
    const none: number[] = [];
    for await (const m of scanSubjects(nats.jsm, "SCAN", "scan.none", { direct: true })) none.push(m.seq);
    assert.deepEqual(none, []);
    await nats.jsm.streams.delete("SCAN");
  });

  it("tells a lost compare-and-set and a missing message apart from other errors", async () => {
    const kv = buckets.flow;
    const key = `errors-test-${Date.now()}`;
    const rev = await kv.create(key, "a");
    const created = await kv.create(key, "b").catch((e: unknown) => e);
    assert.ok(isConflict(created), `create of an existing key: ${String(created)}`);
    const stale = await kv.update(key, "c", rev + 1000).catch((e: unknown) => e);
    assert.ok(isConflict(stale), `update at a stale revision: ${String(stale)}`);
    assert.equal(isNotFound(created), false);
    await kv.update(key, "d", rev);
    const timers = new TimerStore(nats.js, nats.jsm, publisher);
    const t = await timers.arm({ runId: "errors-run", timerId: "t", partition: 0, fireAt: 1 });
    await nats.jsm.streams.deleteMessage("TIMERS", t.seq, false);
    const again = await nats.jsm.streams.deleteMessage("TIMERS", t.seq, false).catch((e: unknown) => e);
    assert.ok(isNotFound(again), `deleting a deleted message: ${String(again)}`);
    assert.equal(isConflict(again), false);
    await timers.remove(t.seq); // already gone: not an error
    const direct = await nats.jsm.direct
      .getBatch("TIMERS", { seq: 1, batch: 5, next_by_subj: "timer.none.>" })
      .then(async (it) => {
        for await (const _ of it);
      })
      .catch((e: unknown) => e);
    assert.ok(isNotFound(direct), `a direct get of nothing: ${String(direct)}`);
    assert.equal(isNotFound(new Error("no message found")), false, "not by its wording");
  });

  it("stores, loads and removes timers per partition", async () => {
    const timers = new TimerStore(nats.js, nats.jsm, publisher);
    const t1 = await timers.arm({ runId: "R1", timerId: "retry-a-0", partition: 3, fireAt: 100 });
    await timers.arm({ runId: "R2", timerId: "sleep-b", partition: 3, fireAt: 200 });
    await timers.arm({ runId: "R3", timerId: "x", partition: 4, fireAt: 300 });
    assert.deepEqual((await timers.load(3)).map((t) => t.runId).sort(), ["R1", "R2"]);
    await timers.remove(t1.seq);
    await timers.remove(t1.seq);
    assert.deepEqual(
      (await timers.load(3)).map((t) => t.runId),
      ["R2"],
    );
    assert.deepEqual(await timers.load(9), []);
    // Each load's consumer is deleted once read (one left per load piled up to the server's limit).
    await waitFor(async () => (await nats.jsm.streams.info(Streams.timers)).state.consumer_count === 0, {
      timeoutMs: 10_000,
      message: "the loads' consumers deleted",
    });
  });

  it("scans a partition's timers without a consumer, the same as the ordered read", async () => {
    const timers = new TimerStore(nats.js, nats.jsm, publisher);
    for (let i = 0; i < 30; i++) await timers.arm({ runId: `S${i}`, timerId: "t", partition: 7, fireAt: i });
    await timers.arm({ runId: "other", timerId: "t", partition: 8, fireAt: 1 });
    const gone = await timers.arm({ runId: "gone", timerId: "t", partition: 7, fireAt: 1 });
    await timers.remove(gone.seq);
    const scanned = await timers.scan(7);
    assert.equal(scanned.length, 30);
    assert.deepEqual(scanned, await timers.load(7));
    assert.deepEqual(await timers.scan(12), []);
  });

  it("reads with a consumer, falls back to a scan when it fails, and scans for a while after", async () => {
    const timers = new TimerStore(nats.js, nats.jsm, publisher);
    const failing = { consumers: { get: () => Promise.reject(new Error("consumer create timed out")) } };
    const degraded = new TimerStore(failing as unknown as typeof nats.js, nats.jsm, publisher);
    let now = 0;
    const path = new ReadPath(60_000, () => now);
    const reasons: string[] = [];
    const onFallback = (e: unknown) => reasons.push((e as Error).message);
    const tried: string[] = [];
    const read = (store: TimerStore) =>
      path.read(
        () => {
          tried.push("consumer");
          return store.load(7);
        },
        () => {
          tried.push("scan");
          return store.scan(7);
        },
        onFallback,
      );
    const expected = await timers.scan(7);
    assert.deepEqual(await read(timers), expected);
    assert.deepEqual(await read(degraded), expected, "the failed read was scanned");
    assert.deepEqual(reasons, ["consumer create timed out"]);
    assert.equal(path.scanning(), true);
    now += 30_000;
    assert.deepEqual(await read(timers), expected);
    now += 31_000;
    assert.deepEqual(await read(timers), expected);
    assert.deepEqual(tried, ["consumer", "consumer", "scan", "scan", "consumer"]);
  });

  it("lists live KV keys without a consumer, and erases keys leaving no marker", async () => {
    const kv = buckets.active;
    await kv.put("p5.A", "{}");
    await kv.put("p5.B", "{}");
    await kv.put("p5.C", "{}");
    await kv.put("p50.X", "{}");
    await kv.put("q5.P", "{}");
    await kv.delete("p5.B"); // leaves a delete marker: skipped
    await eraseKvKey(nats.jsm, Buckets.active, "p5.C");
    await eraseKvKey(nats.jsm, Buckets.active, "p5.never-there");
    const keys: string[] = [];
    for await (const k of scanKvKeys(nats.jsm, Buckets.active, "p5.>")) keys.push(k);
    assert.deepEqual(keys, ["p5.A"]);
    assert.deepEqual(
      await listKvKeys(nats.js, Buckets.active, "p5.>"),
      ["p5.A"],
      "the ordered listing agrees",
    );
    assert.deepEqual(await listKvKeys(nats.js, Buckets.active, "p77.>"), []);
    await waitFor(
      async () => (await nats.jsm.streams.info(`KV_${Buckets.active}`)).state.consumer_count === 0,
      { timeoutMs: 10_000, message: "the listings' consumers deleted" },
    );
    assert.equal(await kv.get("p5.C"), null, "an erased key reads as absent");
    // The erased key left no message behind (the deleted one left its marker).
    const info = await nats.jsm.streams.info(`KV_${Buckets.active}`, {
      subjects_filter: "$KV.JETSTEP_ACTIVE.p5.>",
    });
    assert.deepEqual(Object.keys(info.state.subjects ?? {}).sort(), [
      "$KV.JETSTEP_ACTIVE.p5.A",
      "$KV.JETSTEP_ACTIVE.p5.B",
    ]);
  });

  it("gives each partition to one owner; the server expires a lease nobody renews", async () => {
    const gotB: number[] = [];
    const a = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "a", partitions: 4, ttlMs: 1000 },
      { acquired: () => undefined, lost: () => undefined },
    );
    const b = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "b", partitions: 4, ttlMs: 1000 },
      { acquired: (p) => void gotB.push(p), lost: () => undefined },
    );
    await a.tick();
    await b.tick();
    assert.deepEqual(a.ownedPartitions().sort(), [0, 1, 2, 3]);
    assert.deepEqual(b.ownedPartitions(), [], "a live lease is left alone");
    const lease = await buckets.leases.get("partition.0");
    assert.deepEqual(lease?.json(), { owner: "a" });
    // a stops renewing (crashed): its keys vanish after their 1 s TTL, by the server's clock alone.
    const gone = async () => {
      for (const p of [0, 1, 2, 3]) if ((await buckets.leases.get(`partition.${p}`)) !== null) return false;
      return true;
    };
    await waitFor(gone, { timeoutMs: 5000 });
    await b.tick();
    assert.deepEqual(b.ownedPartitions().sort(), [0, 1, 2, 3]);
    assert.deepEqual(gotB.sort(), [0, 1, 2, 3]);
    await a.tick(); // a's renewals now fail their revision check: it drops everything
    assert.deepEqual(a.ownedPartitions(), []);
    // b renews in time (ttl/3 ticks): its leases outlive their first TTL. Four renewals after
    // the one start() makes span more than a whole TTL (1 s).
    await b.start();
    const renewals = new Set<number>();
    await waitFor(
      async () => {
        const lease = await buckets.leases.get("partition.0");
        if (lease) renewals.add(lease.revision);
        return renewals.size >= 5;
      },
      { timeoutMs: 5000, message: "b's lease was not renewed four times" },
    );
    assert.deepEqual(b.ownedPartitions().sort(), [0, 1, 2, 3]);
    assert.deepEqual(gotB.sort(), [0, 1, 2, 3], "none was lost and taken again");
    assert.ok(await buckets.leases.get("partition.0"), "renewed leases stay");
    await b.stop(true);
    await a.tick();
    assert.deepEqual(a.ownedPartitions().sort(), [0, 1, 2, 3], "released leases are taken at once");
    await a.stop(true);
  });

  it("whenValid waits out a late renewal or a partition taken back; false when it does not come back", async () => {
    let now = 0;
    const leases = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "w", partitions: 2, ttlMs: 10_000, clock: () => now },
      { acquired: () => undefined, lost: () => undefined },
    );
    await leases.tick();
    assert.ok(leases.valid(0));
    now = 9_000; // past ttl - margin: the renewal is late
    assert.equal(leases.valid(0), false);
    const waited = leases.whenValid(0, 60_000);
    await leases.tick(); // renewed: nobody else held it meanwhile
    assert.equal(await waited, true);
    now = 18_000;
    await leases.reload(1); // given up…
    const back = leases.whenValid(1, 60_000);
    await leases.tick(); // …and taken back by the next tick
    assert.equal(await back, true);
    await leases.reload(1); // given up, and not taken back in time
    assert.equal(await leases.whenValid(1, 0), false);
    await leases.tick(); // hold both again, so stopping releases both leases for the tests after
    await leases.stop(true);
  });

  it("counts live members; a member that stops refreshing drops out when its key expires", async () => {
    const m1 = new Membership(nats.js, nats.jsm, "m1", 1000);
    const m2 = new Membership(nats.js, nats.jsm, "m2", 1000);
    await m1.refresh();
    await m2.refresh();
    await m1.refresh();
    assert.equal(m1.count(), 2);
    // m2 crashed (no stop, no refresh): gone once its TTL runs out.
    await waitFor(
      async () => {
        await m1.refresh();
        return m1.count() === 1;
      },
      { timeoutMs: 5000 },
    );
    await m2.refresh();
    await m1.refresh();
    assert.equal(m1.count(), 2);
    await m2.stop(); // a clean stop erases the key at once
    await m1.refresh();
    assert.equal(m1.count(), 1);
    await m1.stop();
  });

  it("loses a lease renewed after it expired, even if its key is free again, and takes it afresh", async () => {
    const lost: number[] = [];
    const acquired: number[] = [];
    const late = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "late", partitions: 2, ttlMs: 1000 },
      { acquired: (p) => void acquired.push(p), lost: (p) => void lost.push(p) },
    );
    await late.tick();
    assert.deepEqual(late.ownedPartitions().sort(), [0, 1]);
    // The process was too busy to renew in time: the server removed both keys. Meanwhile another
    // owner took partition 0 and died (its key expired too), so "free again" proves nothing.
    const gone = async () =>
      (await buckets.leases.get("partition.0")) === null &&
      (await buckets.leases.get("partition.1")) === null;
    await waitFor(gone, { timeoutMs: 5000 });
    const other = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "other", partitions: 1, ttlMs: 1000 },
      { acquired: () => undefined, lost: () => undefined },
    );
    await other.tick();
    assert.deepEqual(other.ownedPartitions(), [0]);
    await waitFor(gone, { timeoutMs: 5000 });
    await late.tick();
    // Both were lost (their runs are dropped from memory), then taken again and loaded afresh.
    assert.deepEqual(lost.sort(), [0, 1]);
    assert.deepEqual(acquired.sort(), [0, 0, 1, 1]);
    assert.deepEqual(late.ownedPartitions().sort(), [0, 1]);
    assert.deepEqual((await buckets.leases.get("partition.0"))?.json(), { owner: "late" });
    await late.stop(true);
  });

  it("hands a partition over only after its work finished, then releases its lease", async () => {
    let share = 2;
    const seen: string[] = [];
    const ownerOf = async (p: number) => {
      const e = await buckets.leases.get(`partition.${p}`);
      return e?.operation === "PUT" ? e.json<{ owner: string }>().owner : "none";
    };
    const leases = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "giver", partitions: 2, ttlMs: 3000, maxOwned: () => share },
      {
        acquired: () => undefined,
        handingOver: async (p, withinMs) => {
          seen.push(`handingOver ${p} within ${withinMs} valid=${leases.valid(p)} lease=${await ownerOf(p)}`);
        },
        lost: async (p) => void seen.push(`lost ${p} lease=${await ownerOf(p)}`),
      },
    );
    await leases.tick();
    share = 1;
    await leases.tick();
    assert.deepEqual(seen, ["handingOver 1 within 1000 valid=true lease=giver", "lost 1 lease=giver"]);
    assert.equal(await ownerOf(1), "none", "released once lost");
    assert.deepEqual(leases.ownedPartitions(), [0]);
    await leases.stop(true);
  });

  it("holds a lease valid only until ttl less a margin after its last renewal was sent", async () => {
    let now = 0;
    const leases = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "fenced", partitions: 1, ttlMs: 10_000, clock: () => now },
      { acquired: () => undefined, lost: () => undefined },
    );
    await leases.tick();
    assert.ok(leases.valid(0));
    assert.equal(leases.validForMs(0), 10_000 - leaseMarginMs(10_000), "valid for ttl less the margin");
    now = 10_000 - leaseMarginMs(10_000) - 1;
    assert.ok(leases.valid(0), "valid until the margin");
    assert.equal(leases.validForMs(0), 1);
    now += 1;
    assert.equal(leases.valid(0), false, "a paused owner stops calling before the TTL runs out");
    assert.equal(leases.validForMs(0), 0);
    assert.ok(leases.owns(0), "still held: the renewal decides");
    await leases.tick(); // renewed (the key had not expired on the server): valid again
    assert.ok(leases.valid(0));
    assert.equal(leases.valid(1), false, "never owned");
    assert.equal(leases.validForMs(1), 0);
    await leases.stop(true);
    assert.equal(leases.valid(0), false);
  });

  it("gives up a partition whose load failed and takes it again on the next tick", async () => {
    const loads: number[] = [];
    const lost: number[] = [];
    const errors: string[] = [];
    let failNext = true;
    const leases = new PartitionLeases(
      buckets.leases,
      nats.js,
      { owner: "c", partitions: 1, ttlMs: 1000, onError: (e) => errors.push((e as Error).name) },
      {
        acquired: async (p) => {
          loads.push(p);
          if (failNext) {
            failNext = false;
            throw new Error("consumer create timed out");
          }
        },
        lost: (p) => void lost.push(p),
      },
    );
    await leases.tick();
    await waitFor(() => lost.length === 1, { timeoutMs: 2000 });
    assert.deepEqual(leases.ownedPartitions(), [], "a partition that did not load is not kept");
    assert.deepEqual(errors, ["PartitionLoadError"]);
    await leases.tick();
    assert.deepEqual(loads, [0, 0], "loaded again");
    assert.deepEqual(leases.ownedPartitions(), [0]);
    await leases.stop(true);
  });
});

describe("Publisher across a nats-server restart", () => {
  it("holds a publish made while disconnected and stores it once the connection is back", async () => {
    const server = await startNatsServer();
    const nats = await connectNats({ servers: server.url, reconnectTimeWait: 100 });
    await nats.jsm.streams.add({ name: "HELD", subjects: ["held.>"] });
    const publisher = new Publisher(nats.nc, 120_000);
    try {
      await server.kill("SIGKILL");
      await waitFor(() => !nats.connected(), { timeoutMs: 10_000, message: "the client saw the disconnect" });
      // nats.js alone writes it to a buffer it discards on reconnecting: never stored.
      const held = publisher.publish("held.x", "a", { msgId: "held-1" });
      await server.restart();
      const r = await held;
      assert.equal(r.ok, true);
      assert.equal((await nats.jsm.streams.info("HELD")).state.messages, 1);
    } finally {
      publisher.close();
      await nats.close();
      await server.stop();
    }
  });

  it("fails a publish whose ack was lost with the connection as soon as it drops, not at the timeout", async () => {
    const server = await startNatsServer();
    const nats = await connectNats({ servers: server.url, reconnectTimeWait: 100 });
    const swallower = await connectNats({ servers: server.url, reconnectTimeWait: 100 });
    // Takes the message and never acks it: a stream whose server dies before it answers.
    const sub = swallower.nc.subscribe("silent.>");
    await swallower.nc.flush();
    const publisher = new Publisher(nats.nc, 120_000);
    try {
      const lost = publisher.publish("silent.x", "a").then(
        () => new Error("acked"),
        (e: Error) => e,
      );
      await waitFor(() => sub.getReceived() === 1, { timeoutMs: 10_000, message: "the publish delivered" });
      await server.restart();
      const e = await lost;
      assert.equal(e.name, "PublishTimeoutError");
      assert.match(e.message, /the connection was lost before it came/);
      // A publish made after the reconnect is acked as usual.
      await nats.jsm.streams.add({ name: "AFTER", subjects: ["after.>"] });
      assert.equal((await publisher.publish("after.x", "b")).ok, true);
    } finally {
      publisher.close();
      await swallower.close();
      await nats.close();
      await server.stop();
    }
  });
});

describe("requests across a nats-server restart", () => {
  it("keep a partition whose lease renewal the restart cut: it is sent again on the new connection", async () => {
    const server = await startNatsServer();
    const nats = await connectNats({ servers: server.url, reconnectTimeWait: 100 });
    const { leases: bucket } = await openBuckets(nats, { replicas: 1 });
    const lost: string[] = [];
    const leases = new PartitionLeases(
      bucket,
      nats.js,
      { owner: "a", partitions: 2, ttlMs: 5000 },
      { acquired: () => undefined, lost: (p, why) => void lost.push(`${p} ${why}`) },
    );
    try {
      await leases.tick();
      const before = await bucket.get("partition.0");
      // The server stops before it reads the renewals, then dies: they are surely not written.
      process.kill(server.pid, "SIGSTOP");
      const renewing = leases.tick();
      await server.kill("SIGKILL");
      await server.restart();
      await renewing;
      assert.deepEqual(lost, [], "no partition lost");
      assert.deepEqual(leases.ownedPartitions().sort(), [0, 1]);
      assert.ok(leases.valid(0), "renewed: valid for another TTL");
      const after = await bucket.get("partition.0");
      assert.ok((after?.revision ?? 0) > (before?.revision ?? 0), "the renewal was written");
    } finally {
      await leases.stop(true);
      await nats.close();
      await server.stop();
    }
  });

  it("fail with ConnectionLostError when the connection drops, not at their timeout", async () => {
    const server = await startNatsServer();
    const nats = await connectNats({ servers: server.url, reconnectTimeWait: 100 });
    const swallower = await connectNats({ servers: server.url, reconnectTimeWait: 100 });
    // Takes the request and never answers: a responder whose server dies before it replies.
    const sub = swallower.nc.subscribe("silent.>");
    await swallower.nc.flush();
    await nats.jsm.streams.add({ name: "HELD", subjects: ["held.>"] });
    try {
      const lost = request(nats, "silent.x", "a", 120_000).then(
        () => new Error("answered"),
        (e: Error) => e,
      );
      // A JetStream call is a request too: a KV write whose server never acks (the stream is gone
      // with the subject swallowed), made the same way.
      const jsLost = nats.js.publish("silent.y", "b", { timeout: 120_000 }).then(
        () => new Error("acked"),
        (e: Error) => e,
      );
      await waitFor(() => sub.getReceived() === 2, { timeoutMs: 10_000, message: "both requests delivered" });
      await server.kill("SIGKILL");
      for (const e of [await lost, await jsLost]) {
        assert.ok(e instanceof ConnectionLostError, `${e.name}: ${e.message}`);
        assert.ok(e instanceof TimeoutError, "a kind of timeout, which callers already retry");
      }
      assert.match((await lost).message, /silent\.x: the connection to nats-server was lost/);
      // Made while disconnected: held, sent on the new connection, answered there (nats.js alone
      // sends it into the void and waits out its timeout).
      const held = nats.jsm.streams.info("HELD").then(
        (info) => info.config.name,
        (e: Error) => e.message,
      );
      await server.restart();
      assert.equal(await held, "HELD");
      await waitFor(() => swallower.connected(), { timeoutMs: 10_000, message: "the responder reconnected" });
      const echo = nats.nc.subscribe("echo", { callback: (_e, m) => void m.respond(m.data) });
      await nats.nc.flush();
      assert.equal((await request(nats, "echo", "hi", 10_000)).string(), "hi");
      echo.unsubscribe();
    } finally {
      await swallower.close();
      await nats.close();
      await server.stop();
    }
  });
});
