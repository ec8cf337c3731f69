import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConcurrencyGate } from "./concurrency-gate.ts";

describe("ConcurrencyGate", () => {
  it("never grants more than the limit and grants waiters in order", async () => {
    const gate = new ConcurrencyGate();
    const k = [{ key: "f", limit: 2 }];
    const r1 = await gate.acquire(k);
    const r2 = await gate.acquire(k);
    const order: number[] = [];
    const p3 = gate.acquire(k).then((r) => {
      order.push(3);
      return r;
    });
    const p4 = gate.acquire(k).then((r) => {
      order.push(4);
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(gate.inUse("f"), 2);
    assert.deepEqual(order, []);
    r1();
    r1(); // releasing twice frees one slot only
    const r3 = await p3;
    assert.deepEqual(order, [3]);
    assert.equal(gate.inUse("f"), 2);
    r2();
    r3();
    (await p4)();
    assert.equal(gate.inUse("f"), 0);
  });

  it("does not let a busy key hold back an idle one", async () => {
    const gate = new ConcurrencyGate();
    const busy = [{ key: "u1", limit: 1 }];
    await gate.acquire(busy);
    const blocked = gate.acquire(busy);
    let idleGranted = false;
    const idle = gate.acquire([{ key: "u2", limit: 1 }]).then(() => {
      idleGranted = true;
    });
    await idle;
    assert.ok(idleGranted);
    void blocked;
  });

  it("needs a slot of every key of a call", async () => {
    const gate = new ConcurrencyGate();
    const fnLimit = { key: "fn", limit: 1 };
    const release = await gate.acquire([fnLimit, { key: "user-a", limit: 5 }]);
    let granted = false;
    const p = gate.acquire([fnLimit, { key: "user-b", limit: 5 }]).then((r) => {
      granted = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(granted, false);
    release();
    (await p)();
  });
});

describe("ConcurrencyGate priority", () => {
  it("grants a higher-priority waiter ahead of earlier ones", async () => {
    const gate = new ConcurrencyGate();
    const k = [{ key: "f", limit: 1 }];
    const first = await gate.acquire(k, 0);
    const order: string[] = [];
    const low1 = gate.acquire(k, 100).then((r) => {
      order.push("low1");
      return r;
    });
    const low2 = gate.acquire(k, 200).then((r) => {
      order.push("low2");
      return r;
    });
    const high = gate.acquire(k, 300 - 60_000).then((r) => {
      order.push("high");
      return r;
    });
    first();
    (await high)();
    (await low1)();
    (await low2)();
    assert.deepEqual(order, ["high", "low1", "low2"]);
  });

  it("reads slots in use and calls waiting per key (gauges); a key gone idle is not listed", async () => {
    const gate = new ConcurrencyGate();
    const a = [{ key: "a", limit: 1 }];
    const release = await gate.acquire(a);
    const waiting = gate.acquire([...a, { key: "b", limit: 5 }]);
    const read = () =>
      gate
        .readings()
        .map((r) => `${r.name} ${r.attributes?.key} ${r.value}`)
        .sort();
    assert.deepEqual(read(), [
      "jetstep.concurrency.in_use a 1",
      "jetstep.concurrency.waiting a 1",
      "jetstep.concurrency.waiting b 1",
    ]);
    release();
    (await waiting)();
    assert.deepEqual(read(), []);
  });
});
