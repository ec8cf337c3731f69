import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ThrottleSpec } from "@jetstep/core";
import {
  connectNats,
  ensureStreams,
  FlowStore,
  type JetstepBuckets,
  type Nats,
  openBuckets,
  Publisher,
  type QueuedRun,
  ThrottleQueue,
  throttleToken,
} from "@jetstep/jetstream";
import { type NatsServerHandle, startNatsServer, waitFor } from "../../../test/support/index.ts";
import { ThrottleGate, type ThrottleGateDeps } from "./throttle-gate.ts";

describe("ThrottleGate (THROTTLE queue, FLOW bucket)", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let buckets: JetstepBuckets;
  let publisher: Publisher;
  let queue: ThrottleQueue;
  const gates: ThrottleGate[] = [];

  /** A gate as one executor has it; `notify` reaches every gate made here, as NATS would. */
  function gate(now: () => number, extra: Partial<ThrottleGateDeps> = {}): ThrottleGate {
    const g = new ThrottleGate({
      flow: new FlowStore(buckets.flow),
      queue,
      now,
      notify: (token) => {
        for (const other of gates) other.changed(token);
      },
      gone: async () => false,
      arrived: async () => true,
      onError: (err) => {
        throw err;
      },
      ...extra,
    });
    gates.push(g);
    return g;
  }

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
    await ensureStreams(nats.jsm, { replicas: 1 });
    buckets = await openBuckets(nats, { replicas: 1 });
    publisher = new Publisher(nats.nc);
    queue = new ThrottleQueue(nats.jsm);
  });
  after(async () => {
    for (const g of gates) g.stop();
    publisher?.close();
    await nats?.close();
    await server?.stop();
  });

  it("takes a start only when due by the clock at that moment, whatever was scheduled", async () => {
    let now = 1_000_000;
    const g = gate(() => now);
    const spec = { key: "throttle-start.fn.a", limit: 2, periodMs: 2000 };
    assert.equal(await g.take(spec), now);
    // The next run's timer fired on time, but the previous start went out late (now): 1 s after it.
    now += 400;
    assert.equal(await g.take(spec), undefined);
    now += 599;
    assert.equal(await g.take(spec), undefined);
    now += 1;
    assert.equal(await g.take(spec), now);
  });

  it("lets `burst` start together, then spaces", async () => {
    const now = 5_000_000;
    const g = gate(() => now);
    const spec = { key: "throttle-start.fn.burst", limit: 1, periodMs: 1000, burst: 3 };
    assert.deepEqual(
      [await g.take(spec), await g.take(spec), await g.take(spec), await g.take(spec)],
      [now, now, now, undefined],
    );
  });

  it("due waits (reading only) until a start is due; concurrent takers get one start per interval", async () => {
    let now = 9_000_000;
    const slept: number[] = [];
    const g = gate(() => now, {
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    const spec = { key: "throttle-start.fn.ready", limit: 4, periodMs: 1000 };
    assert.equal(await g.take(spec), now);
    await g.due(spec);
    assert.deepEqual(slept, [250]);
    // Two executors racing for the same start: exactly one gets it.
    const other = gate(() => now);
    const results = await Promise.all([g.take(spec), other.take(spec)]);
    assert.equal(
      results.filter((r) => r !== undefined).length,
      1,
      `both racers: ${JSON.stringify(results)} (only one start is due)`,
    );
  });

  it("lets queued runs start one at a time in the order their events arrived, across executors", async () => {
    const spec: ThrottleSpec = { key: "throttle-start.fn.order", limit: 100, periodMs: 1000, queued: true };
    const runs = ["q1", "q2", "q3", "q4"];
    // Queued out of their events' order (two matchers at once): q2's event came before q1's.
    const eventSeqs: Record<string, number> = { q2: 10, q1: 11, q3: 12, q4: 13 };
    for (const r of ["q1", "q2", "q4", "q3"])
      await ThrottleQueue.enqueue(publisher, spec.key, r, eventSeqs[r] as number, Date.now());
    const [x, y] = [gate(Date.now), gate(Date.now)];
    const started: string[] = [];
    // Each run waits on its own executor, the last queued asking first.
    const waits = [...runs].reverse().map(async (r, i) => {
      const g = i % 2 === 0 ? x : y;
      assert.equal(await g.turn(spec, r), true);
      started.push(r);
      await g.due(spec);
      assert.notEqual(await g.take(spec), undefined);
      // Its first call answered: it leaves, and the next may go.
      await g.leave(spec, r);
    });
    await Promise.all(waits);
    assert.deepEqual(started, ["q2", "q1", "q3", "q4"]);
    assert.equal(await queue.head(spec.key), undefined, "all left the queue");
    // A run that took its start is not queued any more: a first call tried again goes at once.
    assert.equal(await x.turn(spec, "q1"), false);
  });

  it("holds the head back until every earlier event was matched (or for a short grace at most)", async () => {
    const spec: ThrottleSpec = { key: "throttle-start.fn.arrive", limit: 100, periodMs: 1000, queued: true };
    await ThrottleQueue.enqueue(publisher, spec.key, "a1", 50, Date.now());
    let floor = 40;
    let asked = 0;
    const g = gate(Date.now, {
      arrived: async (seq) => {
        asked++;
        return floor >= seq - 1;
      },
    });
    let went = false;
    const a1 = g.turn(spec, "a1").then(() => {
      went = true;
    });
    // Asked, told no, and asked again: the gate looked at a1 at the head and held it back.
    await waitFor(() => asked >= 2, { timeoutMs: 5_000, message: "the gate to ask twice" });
    assert.equal(went, false, "event 45 (say) is still being matched: its run may come first");
    floor = 49;
    await a1;
  });

  it("moves on when a waiting run leaves, and takes out a head whose run is gone", async () => {
    const spec: ThrottleSpec = { key: "throttle-start.fn.leave", limit: 100, periodMs: 1000, queued: true };
    for (const [i, r] of ["l1", "l2", "l3"].entries())
      await ThrottleQueue.enqueue(publisher, spec.key, r, i + 1, Date.now());
    let now = Date.now();
    const asked: QueuedRun[] = [];
    // The heads the gate read, in order.
    const heads: (string | undefined)[] = [];
    const watched = Object.assign(Object.create(queue) as ThrottleQueue, {
      head: async (key: string) => {
        const head = await queue.head(key);
        heads.push(head?.runId);
        return head;
      },
    });
    const g = gate(() => now, {
      queue: watched,
      gone: async (run) => {
        asked.push(run);
        return run.runId === "l2";
      },
    });
    const l3 = g.turn(spec, "l3");
    // l1 ends while it waits (cancelled): it leaves, and l2 is the head.
    await g.leave(spec, "l1");
    assert.equal((await queue.head(spec.key))?.runId, "l2");
    // l2's run never starts (its executor lost the removal): once it has sat there long enough
    // and its run is found gone, it is taken out and l3 goes. First the gate must have seen l2 at
    // the head (from then on it counts how long l2 sits there).
    await waitFor(() => heads.includes("l2"), {
      timeoutMs: 5_000,
      message: "the gate to read l2 at the head",
    });
    now += 31_000;
    g.changed(throttleToken(spec.key));
    assert.equal(await l3, true);
    assert.deepEqual(
      asked.map((a) => a.runId),
      ["l2"],
    );
  });
});
