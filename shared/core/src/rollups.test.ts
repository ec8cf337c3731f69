import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bucketQuantile,
  durationBucket,
  type FunctionRollup,
  MINUTE_MS,
  mergeRollups,
  ROLLUP_DURATION_BOUNDS_MS,
  RollupAccumulator,
} from "./rollups.ts";

const T0 = Date.UTC(2026, 11, 2, 10, 0);

describe("function activity rollups", () => {
  it("counts per function and minute, and hands each count over once", () => {
    let now = T0 + 5_000;
    const acc = new RollupAccumulator("exec-a", () => now);
    acc.runStarted("fn-a", "app");
    acc.runStarted("fn-a", "app");
    acc.runEnded("fn-a", "app", "completed", 40);
    acc.stepAttempt("fn-a", "app", false);
    acc.stepAttempt("fn-a", "app", true);
    acc.runStarted("fn-b", "app");
    now = T0 + MINUTE_MS + 1;
    acc.runEnded("fn-a", "app", "failed", 2_000);

    const taken = acc.take(new Map([["fn-c", ["app2", 3] as const]]));
    const byKey = new Map(taken.map((r) => [`${r.fnId}@${(r.minute - T0) / MINUTE_MS}`, r]));
    assert.deepEqual([...byKey.keys()].sort(), ["fn-a@0", "fn-a@1", "fn-b@0", "fn-c@1"]);
    const a0 = byKey.get("fn-a@0") as FunctionRollup;
    assert.equal(a0.source, "exec-a");
    assert.deepEqual([a0.started, a0.completed, a0.failed, a0.stepAttempts, a0.stepErrors], [2, 1, 0, 2, 1]);
    assert.equal(a0.durations[durationBucket(40)], 1);
    assert.equal(byKey.get("fn-a@1")?.failed, 1);
    assert.equal(byKey.get("fn-c@1")?.backlog, 3);
    assert.deepEqual(acc.take(), [], "a second take has nothing left");
  });

  it("places a duration in the first bucket whose bound it does not exceed", () => {
    assert.equal(durationBucket(0), 0);
    assert.equal(durationBucket(10), 0);
    assert.equal(durationBucket(11), 1);
    assert.equal(durationBucket(86_400_000), ROLLUP_DURATION_BOUNDS_MS.length - 1);
    assert.equal(durationBucket(86_400_001), ROLLUP_DURATION_BOUNDS_MS.length);
  });

  it("interpolates quantiles inside the bucket they fall in", () => {
    const counts = new Array(ROLLUP_DURATION_BOUNDS_MS.length + 1).fill(0);
    assert.equal(bucketQuantile(counts, 0.5), null);
    counts[durationBucket(100)] = 10; // (50, 100]
    assert.equal(bucketQuantile(counts, 0.5), 75);
    assert.equal(bucketQuantile(counts, 1), 100);
    counts[durationBucket(5_000)] = 10; // (2500, 5000]
    assert.equal(bucketQuantile(counts, 0.5), 100);
    assert.equal(bucketQuantile(counts, 0.95), 2_500 + 2_500 * 0.9);
    const overflow = new Array(ROLLUP_DURATION_BOUNDS_MS.length + 1).fill(0);
    overflow[ROLLUP_DURATION_BOUNDS_MS.length] = 1;
    assert.equal(bucketQuantile(overflow, 0.5), 86_400_000);
  });

  it("merges processes and flushes into bins: counts add up, backlog is per process then summed", () => {
    const rec = (source: string, minute: number, fields: Partial<FunctionRollup>): FunctionRollup => {
      const acc = new RollupAccumulator(source, () => T0 + minute * MINUTE_MS);
      acc.runStarted("fn", "app");
      const [r] = acc.take();
      return { ...(r as FunctionRollup), started: 0, ...fields };
    };
    const records = [
      rec("a", 0, { started: 2, completed: 1 }),
      rec("a", 0, { started: 1, failed: 1, backlog: 4 }),
      rec("a", 1, { backlog: 6 }),
      rec("b", 1, { cancelled: 2, backlog: 5 }),
      rec("b", 7, { started: 9 }), // past the range
    ];
    const points = mergeRollups(records, T0, T0 + 6 * MINUTE_MS, 5 * MINUTE_MS);
    assert.equal(points.length, 2);
    const [p0, p1] = points;
    assert.equal(p0?.t, T0);
    assert.deepEqual(
      [p0?.started, p0?.completed, p0?.failed, p0?.cancelled, p0?.backlog],
      [3, 1, 1, 2, 6 + 5],
    );
    assert.equal(p0?.failureRate, 1 / 4);
    assert.deepEqual([p1?.started, p1?.failureRate, p1?.p50Ms, p1?.backlog], [0, null, null, 0]);
  });
});
