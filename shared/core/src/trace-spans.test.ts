import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { emptyContext, type RunContext, type StepState } from "./run-context.ts";
import { runTrace } from "./trace.ts";
import { runTraceView, stepKind } from "./trace-spans.ts";

const step = (fields: Partial<StepState> & Pick<StepState, "stepId" | "name" | "status">): StepState => ({
  origin: "discovered",
  attempts: 0,
  ...fields,
});

function context(steps: StepState[], end: Partial<RunContext>): RunContext {
  return {
    ...emptyContext(),
    runId: "01TRACERUN0000000000000000",
    fnId: "shop-checkout",
    appId: "shop",
    createdAt: 1_000,
    steps: Object.fromEntries(steps.map((s) => [s.stepId, s])),
    stepOrder: steps.map((s) => s.stepId),
    ...end,
  };
}

describe("a run's trace from its log", () => {
  it("has the run span first, then one span per attempt, sleep, wait and invoke by start", () => {
    const error = { name: "Error", message: "card declined" };
    const ctx = context(
      [
        step({
          stepId: "charge",
          name: "charge",
          status: "completed",
          attempts: 3,
          startedAt: 1_600,
          endedAt: 1_700,
          history: [
            { attempt: 0, error, startedAt: 1_100, endedAt: 1_150, retryAt: 1_300 },
            { attempt: 1, error, startedAt: 1_300, endedAt: 1_350, retryAt: 1_600 },
          ],
        }),
        step({
          stepId: "nap",
          name: "nap",
          status: "completed",
          memoRaw: true,
          data: null,
          startedAt: 1_800,
          endedAt: 2_800,
          until: 2_800,
        }),
        step({
          stepId: "approval",
          name: "approval",
          status: "completed",
          memoRaw: true,
          data: null,
          startedAt: 2_900,
          endedAt: 3_900,
          wait: { event: "shop/approved", afterSeq: 0 },
        }),
        step({
          stepId: "ship",
          name: "ship",
          status: "completed",
          data: { ok: true },
          startedAt: 4_000,
          endedAt: 4_500,
          childRunId: "01CHILD",
          wait: {
            event: "inngest/function.finished",
            afterSeq: 0,
            invoke: { functionId: "shop-ship", data: {}, correlationId: "c" },
          },
        }),
        step({
          stepId: "later",
          name: "later",
          status: "waiting",
          startedAt: 4_600,
          wait: { event: "shop/later", afterSeq: 0 },
        }),
      ],
      { endedAt: 5_000, cancelReason: "stop" },
    );
    const view = runTraceView(ctx);
    assert.equal(view.traceId, runTrace(ctx.runId).traceId);
    assert.deepEqual(
      view.spans.map((s) => [s.name, s.kind, s.status, s.attempt ?? null, s.start, s.end ?? null]),
      [
        ["run shop-checkout", "run", "cancelled", null, 1_000, 5_000],
        ["step charge", "step", "error", 1, 1_100, 1_150],
        ["step charge", "step", "error", 2, 1_300, 1_350],
        ["step charge", "step", "ok", 3, 1_600, 1_700],
        ["sleep nap", "sleep", "ok", null, 1_800, 2_800],
        ["waitForEvent shop/approved", "waitForEvent", "timed out", null, 2_900, 3_900],
        ["invoke shop-ship", "invoke", "ok", null, 4_000, 4_500],
        // Still waiting when the run was cancelled: it ends with the run.
        ["waitForEvent shop/later", "waitForEvent", "cancelled", null, 4_600, 5_000],
      ],
    );
    assert.equal(view.spans[1]?.retryAt, 1_300);
    assert.equal(view.spans.find((s) => s.kind === "invoke")?.childRunId, "01CHILD");
  });

  it("ends a failed step with its last attempt once, and marks the run's error", () => {
    const error = { name: "Error", message: "down" };
    const ctx = context(
      [
        step({
          stepId: "call",
          name: "call",
          status: "failed",
          attempts: 2,
          error,
          startedAt: 1_300,
          endedAt: 1_400,
          history: [
            { attempt: 0, error, startedAt: 1_100, endedAt: 1_200, retryAt: 1_300 },
            { attempt: 1, error, startedAt: 1_300, endedAt: 1_400 },
          ],
        }),
      ],
      { endedAt: 1_500, error },
    );
    const spans = runTraceView(ctx).spans;
    assert.deepEqual(
      spans.map((s) => [s.name, s.status, s.attempt ?? null]),
      [
        ["run shop-checkout", "error", null],
        ["step call", "error", 1],
        ["step call", "error", 2],
      ],
    );
  });

  it("tells a seeded wait (its memo an event) from a step.run", () => {
    assert.equal(
      stepKind(step({ stepId: "w", name: "w", status: "completed", memoRaw: true, data: { id: "e1" } })),
      "WaitForEvent",
    );
    assert.equal(
      stepKind(step({ stepId: "s", name: "s", status: "completed", memoRaw: true, data: null })),
      "Sleep",
    );
    assert.equal(stepKind(step({ stepId: "r", name: "r", status: "completed", data: 1 })), "StepRun");
  });
});
