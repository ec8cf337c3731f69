import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InFlightCalls } from "./in-flight.ts";

describe("InFlightCalls", () => {
  it("ends a call only with its own token, so a replaced call's answer is void", () => {
    const f = new InFlightCalls();
    const first = f.add("r1", 3, "$discovery", "d1");
    const second = f.add("r1", 3, "$discovery", "d2"); // replaced
    assert.equal(f.end("r1", "$discovery", first), false);
    assert.equal(f.dispatchOf("r1", "$discovery"), "d2");
    assert.equal(f.end("r1", "$discovery", second), true);
    assert.equal(f.count("r1"), 0);
  });

  it("ends a discovery call by its dispatch id", () => {
    const f = new InFlightCalls();
    f.add("r1", 0, "$discovery", "d1");
    assert.equal(f.endDispatch("r1", "$discovery", "other"), false);
    assert.equal(f.endDispatch("r1", "$discovery", "d1"), true);
    assert.equal(f.has("r1", "$discovery"), false);
  });

  it("settles a partition once its sent calls are recorded, or says it did not in time", async () => {
    const f = new InFlightCalls();
    assert.equal(await f.settled(1, 10), true, "nothing out");
    f.sent(1);
    f.sent(1);
    f.sent(2);
    const settled = f.settled(1, 5000);
    f.done(1);
    f.done(2);
    f.done(1);
    assert.equal(await settled, true);
    f.sent(1);
    assert.equal(await f.settled(1, 20), false);
  });
});
