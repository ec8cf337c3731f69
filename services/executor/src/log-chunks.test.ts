import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NewRunLogEntry, RunLogEntry } from "@jetstep/core";
import { chunkEntries, fitEntry } from "./log-chunks.ts";

const wait = (n: number): RunLogEntry => ({
  n,
  ts: 1,
  type: "wait.started",
  stepId: `step-${n}`,
  name: `invoke ${n}`,
  event: "inngest/function.finished",
  afterSeq: 7,
  timeoutAt: 99,
  timerId: `wait-${n}`,
});

describe("fitting appends into max_payload", () => {
  it("splits a large batch into consecutive lists, each within the limit, losing nothing", () => {
    const entries = Array.from({ length: 2_000 }, (_, i) => wait(i + 1));
    const limit = 20_000;
    const chunks = chunkEntries(entries, limit);
    assert.ok(chunks.length > 1);
    for (const c of chunks) assert.ok(Buffer.byteLength(JSON.stringify(c)) <= limit);
    assert.deepEqual(chunks.flat(), entries);
  });

  it("keeps a batch that fits in one list", () => {
    const entries = [wait(1), wait(2)];
    assert.deepEqual(chunkEntries(entries, 1_000_000), [entries]);
  });

  it("records a step result too large for any message as the step's failure, naming sizes", () => {
    const big: NewRunLogEntry = {
      type: "step.completed",
      ts: 5,
      stepId: "s",
      name: "load",
      data: "x".repeat(5_000),
      attempt: 0,
      startedAt: 4,
    };
    const fitted = fitEntry(big, 1_000);
    assert.equal(fitted.type, "step.failed");
    assert.ok(
      fitted.type === "step.failed" &&
        /the result of step "load" is 50\d\d bytes.*at most 1000/.test(fitted.error.message),
    );
    assert.equal(
      fitEntry({ type: "run.completed", ts: 1, output: "y".repeat(2_000) }, 1_000).type,
      "run.failed",
    );
    assert.deepEqual(fitEntry(wait(1), 1_000), wait(1));
  });
});
