import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RunTroubles } from "./run-troubles.ts";

describe("RunTroubles", () => {
  it("flags a run stuck once it kept failing for the set time and often enough, once", () => {
    let now = 1000;
    const t = new RunTroubles(10_000, () => now, 3);
    assert.equal(t.failed("r", "resume", "log unreadable"), undefined);
    now += 20_000;
    assert.equal(t.failed("r", "resume", "log unreadable"), undefined, "2 failures are not enough");
    const stuck = t.failed("r", "resume", "still unreadable");
    assert.deepEqual(stuck, { runId: "r", reason: "resume: still unreadable", since: 1000, failures: 3 });
    assert.ok(t.isStuck("r"));
    assert.equal(t.failed("r", "resume", "again"), undefined, "flagged once");
  });

  it("does not flag many failures within the set time", () => {
    let now = 0;
    const t = new RunTroubles(10_000, () => now, 3);
    for (let i = 0; i < 50; i++) {
      now += 100;
      assert.equal(t.failed("r", "timer", "x"), undefined);
    }
  });

  it("a kind that works clears only itself; the run is unstuck when no kind fails", () => {
    let now = 0;
    const t = new RunTroubles(1000, () => now, 1);
    t.failed("r", "timer", "no TIMERS leader");
    now += 2000;
    assert.ok(t.failed("r", "record", "append timed out"));
    assert.equal(t.cleared("r", "resume"), false, "resume never failed");
    assert.equal(t.cleared("r", "timer"), false, "record still fails");
    assert.ok(t.isStuck("r"));
    assert.equal(t.cleared("r", "record"), true);
    assert.equal(t.isStuck("r"), false);
    assert.equal(t.size, 0);
  });

  it("a run that recovered before it was flagged starts counting afresh", () => {
    let now = 0;
    const t = new RunTroubles(1000, () => now, 1);
    t.failed("r", "resume", "x");
    now += 900;
    assert.equal(t.cleared("r", "resume"), false);
    now += 900;
    assert.equal(t.failed("r", "resume", "x"), undefined, "the time counts from the new failure");
    now += 1000;
    assert.ok(t.failed("r", "resume", "x"));
  });
});
