import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectNats, type JetstepBuckets, type Nats, openBuckets } from "@jetstep/jetstream";
import { type NatsServerHandle, startNatsServer } from "../../../test/support/index.ts";
import { ThrottleGate } from "./throttle-gate.ts";

describe("ThrottleGate (FLOW bucket)", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let buckets: JetstepBuckets;

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
    buckets = await openBuckets(nats, { replicas: 1 });
  });
  after(async () => {
    await nats?.close();
    await server?.stop();
  });

  it("takes a start only when due by the clock at that moment, whatever was scheduled", async () => {
    let now = 1_000_000;
    const gate = new ThrottleGate(buckets.flow, () => now);
    const spec = { key: "throttle-start.fn.a", limit: 2, periodMs: 2000 };
    assert.equal(await gate.take(spec), now);
    // The next run's timer fired on time, but the previous start went out late (now): 1 s after it.
    now += 400;
    assert.equal(await gate.take(spec), undefined);
    now += 599;
    assert.equal(await gate.take(spec), undefined);
    now += 1;
    assert.equal(await gate.take(spec), now);
  });

  it("lets `burst` start together, then spaces", async () => {
    const now = 5_000_000;
    const gate = new ThrottleGate(buckets.flow, () => now);
    const spec = { key: "throttle-start.fn.burst", limit: 1, periodMs: 1000, burst: 3 };
    assert.deepEqual(
      [await gate.take(spec), await gate.take(spec), await gate.take(spec), await gate.take(spec)],
      [now, now, now, undefined],
    );
  });

  it("ready waits (reading only) until a start is due; concurrent takers get one start per interval", async () => {
    let now = 9_000_000;
    const slept: number[] = [];
    const gate = new ThrottleGate(
      buckets.flow,
      () => now,
      async (ms) => {
        slept.push(ms);
        now += ms;
      },
    );
    const spec = { key: "throttle-start.fn.ready", limit: 4, periodMs: 1000 };
    assert.equal(await gate.take(spec), now);
    await gate.ready(spec);
    assert.deepEqual(slept, [250]);
    // Two executors racing for the same start: exactly one gets it.
    const other = new ThrottleGate(buckets.flow, () => now);
    const results = await Promise.all([gate.take(spec), other.take(spec)]);
    assert.equal(
      results.filter((r) => r !== undefined).length,
      1,
      `both racers: ${JSON.stringify(results)} (only one start is due)`,
    );
  });
});
