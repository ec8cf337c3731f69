import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nextRestartDelay, RestartBackoff } from "./embedded-nats.ts";

describe("nextRestartDelay", () => {
  it("waits 0.5 s first, doubles while the server keeps dying, caps at 10 s", () => {
    const delays: number[] = [];
    let last: number | undefined;
    for (let i = 0; i < 7; i++) {
      last = nextRestartDelay(last, 100);
      delays.push(last);
    }
    assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });

  it("starts over at 0.5 s once a server stayed up for a minute", () => {
    assert.equal(nextRestartDelay(RestartBackoff.maxMs, RestartBackoff.stableMs), RestartBackoff.initialMs);
    assert.equal(nextRestartDelay(RestartBackoff.maxMs, RestartBackoff.stableMs - 1), RestartBackoff.maxMs);
  });
});
