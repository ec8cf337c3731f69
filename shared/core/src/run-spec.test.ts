import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nextWork } from "./decide.ts";
import { functionSpec } from "./function-spec.ts";
import { type PersistedRun, persist, replay, restore } from "./replay.ts";
import { THROTTLE_TIMER, TIMEOUT_FINISH, TIMEOUT_START } from "./run-machine.ts";
import type { FunctionDef } from "./schemas/function-config.ts";
import type { RunLogEntry } from "./schemas/log.ts";
import { type RunSpec, runDeadlines, runSpecOf, runTimeouts } from "./schemas/run-spec.ts";

const event = { id: "evt1", name: "order/placed", data: { id: 7 }, ts: 1_000 };
const spec: RunSpec = {
  runId: "RUN1",
  fnId: "shop-fulfil",
  appId: "shop",
  url: "http://app/api",
  maxAttempts: 4,
  event,
  events: [event],
  eventSeq: 9,
  compensateOnCancel: true,
  concurrency: [{ key: "shop-fulfil", limit: 2 }],
  throttle: { key: "t", limit: 1, periodMs: 1_000, queued: true },
  priority: 30,
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  cancelOn: [{ event: "order/cancelled", if: "async.data.id == event.data.id", until: 31_000 }],
  timeouts: { startBy: 11_000, start: "10s", finishAfterMs: 60_000, finish: "1m" },
};
const scheduled = (at: number, fields: Partial<RunSpec> & Record<string, unknown> = spec): RunLogEntry =>
  ({ n: 1, ts: at, type: "run.scheduled", partition: 3, ...spec, ...fields }) as RunLogEntry;
const timersOf = (s: ReturnType<typeof replay>) =>
  Object.fromEntries(nextWork(s).timers.map((t) => [t.timerId, t.fireAt]));

describe("run spec", () => {
  it("is carried unchanged from run.scheduled into the run's context", () => {
    const run = replay([scheduled(5_000)]);
    assert.deepEqual(runSpecOf(run.context as RunSpec), spec);
    assert.equal(run.context.partition, 3);
    assert.equal(run.context.createdAt, 5_000);
  });

  it("decides every deadline once, from the event: cancelOn and the start; the finish from scheduling", () => {
    const fn = {
      id: "shop-fulfil",
      name: "fulfil",
      triggers: [{ event: "order/placed" }],
      steps: { step: { id: "step", name: "step", runtime: { type: "http", url: "http://app/api" } } },
      timeouts: { start: "10s", finish: "1m" },
      cancel: [{ event: "order/cancelled", timeout: "30s" }, { event: "user/gone" }],
    } as unknown as FunctionDef;
    assert.deepEqual(runDeadlines(functionSpec(fn), 1_000), {
      cancelOn: [{ event: "order/cancelled", until: 31_000 }, { event: "user/gone" }],
      timeouts: { startBy: 11_000, start: "10s", finishAfterMs: 60_000, finish: "1m" },
    });
    const run = replay([scheduled(5_000)]);
    assert.deepEqual(timersOf(run), { [TIMEOUT_START]: 11_000, [TIMEOUT_FINISH]: 65_000 });
  });

  it("reads a run.scheduled written before run specs (an absolute finish) with the same deadlines", () => {
    const old = scheduled(5_000, {
      timeouts: { startBy: 11_000, start: "10s", finishBy: 65_000, finish: "1m" },
    });
    const run = replay([old]);
    assert.deepEqual(run.context.timeouts, spec.timeouts);
    assert.deepEqual(timersOf(run), { [TIMEOUT_START]: 11_000, [TIMEOUT_FINISH]: 65_000 });
  });

  it("upgrades timeouts a matcher before run specs sent as registered durations", () => {
    assert.deepEqual(runTimeouts({ start: "10s", finish: 60_000 }, 1_000, 5_000), {
      startBy: 11_000,
      start: "10s",
      finishAfterMs: 60_000,
      finish: "60000 ms",
    });
    assert.equal(runTimeouts(spec.timeouts, 1_000, 5_000), spec.timeouts, "today's form is kept as it is");
    assert.throws(() => runTimeouts({ finish: "soon" }, 1_000, 5_000), /duration/i);
  });

  it("restores a snapshot persisted before run specs (throttleUntil, deadlines) with the same timers", () => {
    const { timeouts: _t, startAt: _s, ...plain } = spec;
    const today = replay([scheduled(5_000, { ...plain, timeouts: undefined, startAt: 8_000 })]);
    const persisted = persist(today);
    const { startAt, ...rest } = persisted.context;
    const legacy = {
      status: persisted.status,
      context: {
        ...rest,
        throttleUntil: startAt,
        deadlines: { startBy: 11_000, start: "10s", finishBy: 65_000, finish: "1m" },
      },
    } as unknown as PersistedRun;
    const restored = restore(legacy);
    assert.equal(restored.context.startAt, 8_000);
    assert.deepEqual(restored.context.timeouts, spec.timeouts);
    assert.equal("throttleUntil" in restored.context, false);
    assert.deepEqual(timersOf(restored), {
      [TIMEOUT_START]: 11_000,
      [TIMEOUT_FINISH]: 65_000,
      [THROTTLE_TIMER]: 8_000,
    });
  });
});
