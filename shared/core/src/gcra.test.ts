import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rateLimitAdmit, throttleSlot } from "./gcra.ts";

describe("GCRA", () => {
  it("rate limit admits a burst of `limit`, then one per period/limit, dropping the rest", () => {
    const l = { limit: 3, periodMs: 3000 };
    let tat: number | undefined;
    const admitted: boolean[] = [];
    for (const t of [0, 10, 20, 30, 500, 1000, 1500]) {
      const r = rateLimitAdmit(tat, t, l);
      admitted.push(r.admitted);
      tat = r.tat;
    }
    assert.deepEqual(admitted, [true, true, true, false, false, true, false]);
  });
  it("throttle spaces starts period/limit apart, never drops, and lets a burst start together", () => {
    let tat: number | undefined;
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = throttleSlot(tat, 0, { limit: 2, periodMs: 6000 });
      starts.push(r.startAt);
      tat = r.tat;
    }
    assert.deepEqual(starts, [0, 3000, 6000, 9000]);
    tat = undefined;
    const burst: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = throttleSlot(tat, 0, { limit: 2, periodMs: 6000, burst: 2 });
      burst.push(r.startAt);
      tat = r.tat;
    }
    assert.deepEqual(burst, [0, 0, 3000, 6000]);
  });
});
