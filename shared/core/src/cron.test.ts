import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jitterDelay, jitterMs, parseCron } from "./cron.ts";

describe("cron", () => {
  it("computes the next slot in UTC and in a time zone", () => {
    const friday = Date.UTC(2026, 10, 27, 10, 0, 0); // Fri 27 Nov 2026 10:00 UTC
    assert.equal(
      new Date(parseCron("0 12 * * 5").next(friday) as number).toISOString(),
      "2026-11-27T12:00:00.000Z",
    );
    assert.equal(
      new Date(parseCron("TZ=Europe/Paris 0 12 * * 5").next(friday) as number).toISOString(),
      "2026-11-27T11:00:00.000Z",
    );
  });
  it("supports a seconds field and is strictly after", () => {
    const t = Date.UTC(2026, 0, 1, 0, 0, 2);
    assert.equal(parseCron("*/2 * * * * *").next(t), t + 2000);
  });
  for (const bad of ["", "* * *", "99 * * * *", "TZ=Nope/Nope 0 12 * * 5", "a b c d e"]) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => parseCron(bad), /invalid cron/));
  }
});

describe("cron jitter", () => {
  it("delays each slot by a share of the jitter that every scheduler computes alike", () => {
    const delays = Array.from({ length: 200 }, (_, i) => jitterDelay("app-fn", i * 60_000, 30_000));
    for (const d of delays) assert.ok(d >= 0 && d <= 30_000);
    assert.deepEqual(
      delays,
      Array.from({ length: 200 }, (_, i) => jitterDelay("app-fn", i * 60_000, 30_000)),
    );
    // Spread over the interval, not bunched: a quarter of the slots in each quarter, roughly.
    const quarters = [0, 0, 0, 0];
    for (const d of delays)
      quarters[Math.min(3, Math.floor(d / 7500))] = (quarters[Math.min(3, Math.floor(d / 7500))] ?? 0) + 1;
    for (const q of quarters) assert.ok(q > 25, `quarters ${quarters.join("/")}`);
    assert.equal(jitterDelay("app-fn", 0, 0), 0);
  });
  it("takes a duration of up to a day", () => {
    assert.equal(jitterMs("30s"), 30_000);
    assert.equal(jitterMs(500), 500);
    assert.throws(() => jitterMs("2d"), /longer than a day/);
    assert.throws(() => jitterMs("soon"));
  });
});
