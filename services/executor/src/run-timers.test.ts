import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StoredTimer, TimerStore } from "@jetstep/jetstream";
import { type HeapTimer, RunTimers } from "./run-timers.ts";
import { TimerHeap } from "./timer-heap.ts";

/**
 * Fires collected in order; `next(n)` resolves once `n` timers have fired (keeping the process
 * alive meanwhile: the heap's timers are unref'd).
 */
function collector() {
  const fired: HeapTimer[] = [];
  const waiters: { n: number; resolve(): void }[] = [];
  return {
    fired,
    fire(t: HeapTimer) {
      fired.push(t);
      for (const w of waiters.filter((w) => fired.length >= w.n)) w.resolve();
    },
    next(n: number): Promise<void> {
      if (fired.length >= n) return Promise.resolve();
      const alive = setInterval(() => undefined, 1000);
      return new Promise<void>((resolve) => waiters.push({ n, resolve })).finally(() => clearInterval(alive));
    },
  };
}

/** TIMERS in memory: what was armed and which sequences were deleted. */
function backing() {
  let seq = 0;
  const armed: StoredTimer[] = [];
  const removed: number[] = [];
  const store: Pick<TimerStore, "arm" | "remove"> = {
    arm: async (t) => {
      const stored = { ...t, seq: ++seq };
      armed.push(stored);
      return stored;
    },
    remove: async (s) => {
      removed.push(s);
    },
  };
  return { store, armed, removed };
}

describe("TimerHeap", () => {
  it("fires timers in fire-time order, whatever order they were added in", async () => {
    const c = collector();
    const heap = new TimerHeap(Date.now, (t) => c.fire(t));
    const now = Date.now();
    for (const [id, at] of [
      ["c", 30],
      ["a", 5],
      ["d", 40],
      ["b", 15],
    ] as const)
      heap.add({ runId: "r", timerId: id, partition: 0, fireAt: now + at, seq: at });
    await c.next(4);
    assert.deepEqual(
      c.fired.map((t) => t.timerId),
      ["a", "b", "c", "d"],
    );
    assert.equal(heap.size, 0);
  });

  it("never fires a removed timer or the timers of a dropped partition; adds a key once", async () => {
    const c = collector();
    const heap = new TimerHeap(Date.now, (t) => c.fire(t));
    const now = Date.now();
    heap.add({ runId: "r1", timerId: "gone", partition: 0, fireAt: now, seq: 1 });
    heap.add({ runId: "r1", timerId: "gone", partition: 0, fireAt: now + 1, seq: 9 }); // same key: kept once
    heap.add({ runId: "r2", timerId: "other", partition: 1, fireAt: now, seq: 2 });
    heap.add({ runId: "r3", timerId: "last", partition: 0, fireAt: now + 20, seq: 3 });
    assert.equal(heap.has("r1", "gone"), true);
    heap.remove("r1", "gone");
    heap.dropPartition(1);
    assert.equal(heap.size, 1);
    await c.next(1);
    assert.deepEqual(
      c.fired.map((t) => t.timerId),
      ["last"],
    );
  });

  it("fires nothing once stopped until a timer is added again", async () => {
    const c = collector();
    const heap = new TimerHeap(Date.now, (t) => c.fire(t));
    heap.add({ runId: "r", timerId: "t1", partition: 0, fireAt: Date.now() + 5, seq: 1 });
    heap.stop();
    heap.add({ runId: "r", timerId: "t2", partition: 0, fireAt: Date.now() + 10, seq: 2 });
    await c.next(1);
    // t1 is fired along with t2 (the heap keeps it), both only after the new add re-armed it.
    await c.next(2);
    assert.deepEqual(c.fired.map((t) => t.timerId).sort(), ["t1", "t2"]);
  });
});

describe("RunTimers", () => {
  it("arms each of a run's timers once and fires them", async () => {
    const c = collector();
    const b = backing();
    const timers = new RunTimers(b.store, Date.now, (t) => c.fire(t));
    const due = [
      { timerId: "sleep-1", fireAt: Date.now() + 5 },
      { timerId: "wait-1", fireAt: Date.now() + 10 },
    ];
    await timers.arm("r1", 2, due);
    await timers.arm("r1", 2, due); // a second kick arms nothing new
    assert.equal(b.armed.length, 2);
    assert.deepEqual(b.armed[0], {
      runId: "r1",
      timerId: "sleep-1",
      partition: 2,
      fireAt: due[0]?.fireAt,
      seq: 1,
    });
    await c.next(2);
    for (const t of c.fired) await timers.handled(t);
    assert.deepEqual(b.removed, [1, 2]);
    assert.equal(timers.size, 0);
  });

  it("deletes a dropped timer from TIMERS, also one that fired and was not handled yet", async () => {
    const c = collector();
    const b = backing();
    const timers = new RunTimers(b.store, Date.now, (t) => c.fire(t));
    await timers.arm("r1", 0, [
      { timerId: "pending", fireAt: Date.now() + 60_000 },
      { timerId: "fired", fireAt: Date.now() },
    ]);
    await c.next(1);
    await timers.drop("r1", "pending");
    await timers.drop("r1", "fired");
    assert.deepEqual(b.removed.sort(), [1, 2]);
    await timers.drop("r1", "fired"); // known no more: nothing deleted twice
    assert.equal(b.removed.length, 2);
    timers.stop();
  });

  it("keeps a timer armed again after it fired when the first firing is handled", async () => {
    const c = collector();
    const b = backing();
    const timers = new RunTimers(b.store, Date.now, (t) => c.fire(t));
    await timers.arm("r1", 0, [{ timerId: "t", fireAt: Date.now() }]);
    await c.next(1);
    const first = c.fired[0] as HeapTimer;
    await timers.arm("r1", 0, [{ timerId: "t", fireAt: Date.now() + 60_000 }]); // not in the heap: armed anew
    await timers.handled(first);
    await timers.drop("r1", "t");
    assert.deepEqual(b.removed, [1, 2], "the first copy by its firing, the second by the drop");
    timers.stop();
  });

  it("forgets a given-up partition's timers: they neither fire nor get deleted from TIMERS here", async () => {
    const c = collector();
    const b = backing();
    const timers = new RunTimers(b.store, Date.now, (t) => c.fire(t));
    timers.loaded([
      { runId: "r1", timerId: "a", partition: 4, fireAt: Date.now() + 20, seq: 11 },
      { runId: "r2", timerId: "b", partition: 5, fireAt: Date.now() + 20, seq: 12 },
    ]);
    timers.dropPartition(4);
    await timers.drop("r1", "a");
    assert.deepEqual(b.removed, []);
    await c.next(1);
    assert.deepEqual(
      c.fired.map((t) => t.seq),
      [12],
    );
  });

  it("fires a timer again when its handling is retried", async () => {
    const c = collector();
    const timers = new RunTimers(backing().store, Date.now, (t) => c.fire(t));
    timers.loaded([{ runId: "r1", timerId: "a", partition: 0, fireAt: Date.now(), seq: 7 }]);
    await c.next(1);
    timers.retry(c.fired[0] as HeapTimer, 5);
    await c.next(2);
    assert.equal(c.fired[1]?.seq, 7);
  });
});
