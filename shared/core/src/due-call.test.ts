import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nextWork } from "./decide.ts";
import { isCallDue } from "./due-call.ts";
import { replay } from "./replay.ts";
import type { RunLogEntry } from "./schemas/log.ts";

const event = { id: "evt1", name: "user/signup", data: {}, ts: 1000 };
const scheduled: RunLogEntry = {
  n: 1,
  ts: 1000,
  type: "run.scheduled",
  runId: "RUN1",
  fnId: "app-fn",
  appId: "app",
  url: "http://app/api",
  maxAttempts: 3,
  partition: 2,
  event,
  events: [event],
};
const planned: RunLogEntry = {
  n: 2,
  ts: 1100,
  type: "steps.planned",
  steps: [
    { stepId: "a", name: "a" },
    { stepId: "b", name: "b" },
  ],
};
const completed = (n: number, stepId: string): RunLogEntry => ({
  n,
  ts: 1000 + n,
  type: "step.completed",
  stepId,
  name: stepId,
  data: null,
  attempt: 0,
  startedAt: 1000 + n,
});

describe("isCallDue", () => {
  it("holds every call nextWork gives", () => {
    for (const log of [[scheduled], [scheduled, planned], [scheduled, planned, completed(3, "a")]]) {
      const s = replay(log);
      for (const call of nextWork(s).calls) assert.equal(isCallDue(s, call), true, JSON.stringify(call));
    }
  });

  it("refuses a planned step recorded since (by another executor, say), and a discovery no longer due", () => {
    const before = replay([scheduled, planned]);
    const [a] = nextWork(before).calls;
    assert.deepEqual(a, { stepId: "a", attempt: 0 });
    const after = replay([scheduled, planned, completed(3, "a")]);
    assert.equal(isCallDue(after, a as never), false, "a is recorded");
    assert.equal(isCallDue(after, { stepId: "b", attempt: 0 }), true, "b is still planned");
    assert.equal(isCallDue(after, { stepId: "b", attempt: 1 }), false, "another attempt");
    const discovery = nextWork(replay([scheduled])).calls[0];
    assert.equal(isCallDue(before, discovery as never), false, "steps are planned: no discovery");
  });

  it("refuses every call of a run that ended", () => {
    const ended = replay([scheduled, { n: 2, ts: 1200, type: "run.cancelled", reason: "by hand" }]);
    assert.equal(isCallDue(ended, { stepId: null, attempt: 0 }), false);
    assert.equal(isCallDue(ended, { stepId: "a", attempt: 0, compensate: true }), false);
  });
});
