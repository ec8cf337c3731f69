import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCron } from "./cron.ts";

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
