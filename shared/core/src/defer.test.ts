/**
 * `defer()` (the official v4 SDK's DeferAdd / DeferAbort): what an answer or a checkpoint records,
 * what later calls are told (`defers`), and what is refused without failing the run.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decideAnswer,
  decideCheckpoint,
  decideDefers,
  defersOf,
  nextWork,
  RUN_COMPLETE_OP_ID,
} from "./decide.ts";
import { MAX_DEFER_INPUT_BYTES } from "./limits.ts";
import { type RunSnapshot, replay, statusOf } from "./replay.ts";
import type { NewRunLogEntry, RunLogEntry } from "./schemas/log.ts";
import type { Op } from "./schemas/ops.ts";

const event = { id: "evt1", name: "shop/order", data: { id: 1 }, ts: 1000 };
const scheduled: RunLogEntry = {
  n: 1,
  ts: 1000,
  type: "run.scheduled",
  runId: "RUN1",
  fnId: "app-parent",
  appId: "app",
  url: "http://app/api",
  maxAttempts: 3,
  partition: 0,
  event,
  events: [event],
};
const opts = { now: 5000, random: () => 0, fixedRetryIntervalMs: 100 };
const discovery = { stepId: null, attempt: 0 };

const add = (id: string, input: unknown = { n: 1 }, extra: Record<string, unknown> = {}): Op => ({
  id,
  op: "DeferAdd",
  name: id,
  opts: { fn_slug: "app-scorer", input, ...extra },
});
const abort = (target: string): Op => ({
  id: `${target}-abort`,
  op: "DeferAbort",
  opts: { target_hashed_id: target },
});

/** Appends decided entries to a snapshot, numbering them. */
function then(s: RunSnapshot, entries: NewRunLogEntry[]): RunSnapshot {
  return replay(
    entries.map((e, i) => ({ ...e, n: s.context.lastN + i + 1 }) as RunLogEntry),
    s,
  );
}

describe("defer()", () => {
  it("records a defer with the step it rode along with, and tells later calls it is known", () => {
    const s = replay([scheduled]);
    const out = decideAnswer(
      s.context,
      discovery,
      { kind: "ops", ops: [add("d1"), { id: "s1", op: "StepRun", name: "one", data: 1 }] },
      opts,
    );
    assert.deepEqual(
      out.map((e) => e.type),
      ["defer.added", "step.completed"],
    );
    const after = then(s, out);
    assert.deepEqual(after.context.defers?.d1, {
      deferId: "d1",
      name: "d1",
      fnSlug: "app-scorer",
      status: "scheduled",
      input: { n: 1 },
    });
    assert.deepEqual(defersOf(after.context), { d1: { abortable: true } });
    // A resend (the SDK replays the handler from the top) records nothing.
    assert.deepEqual(decideDefers(after.context, [add("d1", { n: 2 })], 6000), []);
    assert.deepEqual(nextWork(after).calls, [{ stepId: null, attempt: 0 }], "the run goes on");
  });

  it("keeps the defers that come with the end of the run, and those with a function error", () => {
    const s = replay([scheduled]);
    const completed = decideAnswer(
      s.context,
      discovery,
      { kind: "ops", ops: [add("d1"), { id: RUN_COMPLETE_OP_ID, op: "RunComplete", data: "ok" }] },
      opts,
    );
    assert.deepEqual(
      completed.map((e) => e.type),
      ["defer.added", "run.completed"],
    );
    assert.equal(statusOf(then(s, completed)), "completed");

    // The official SDK sends an error outside any step, with defers, as a StepError of its
    // "complete" pseudo step: a retry of the function, then its failure.
    const error = { name: "Error", message: "boom" };
    const errored = decideAnswer(
      s.context,
      discovery,
      { kind: "ops", ops: [add("d1"), { id: RUN_COMPLETE_OP_ID, op: "StepError", error }] },
      opts,
    );
    assert.deepEqual(
      errored.map((e) => [e.type, (e as { stepId?: string }).stepId]),
      [
        ["defer.added", undefined],
        ["step.errored", "$fn"],
      ],
    );
    const failed = decideAnswer(
      s.context,
      discovery,
      { kind: "ops", ops: [add("d1"), { id: RUN_COMPLETE_OP_ID, op: "StepFailed", error }] },
      opts,
    );
    assert.deepEqual(
      failed.map((e) => e.type),
      ["defer.added", "run.failed"],
    );
  });

  it("aborts a scheduled defer once; an abort of one it never saw records nothing", () => {
    const s = then(replay([scheduled]), decideDefers(replay([scheduled]).context, [add("d1")], 2000));
    const out = decideDefers(s.context, [abort("d1"), abort("d1"), abort("nope")], 3000);
    assert.deepEqual(out, [{ type: "defer.aborted", ts: 3000, deferId: "d1" }]);
    const after = then(s, out);
    assert.equal(after.context.defers?.d1?.status, "aborted");
    assert.equal(after.context.defers?.d1?.input, undefined, "its input is not kept");
    assert.deepEqual(defersOf(after.context), { d1: { abortable: false } });
    assert.deepEqual(decideDefers(after.context, [abort("d1"), add("d1")], 4000), []);
    // Added and aborted in one message.
    const both = decideDefers(replay([scheduled]).context, [add("d2"), abort("d2")], 2000);
    assert.deepEqual(
      both.map((e) => e.type),
      ["defer.added", "defer.aborted"],
    );
  });

  it("refuses a defer it could not send, naming why, and the run goes on", () => {
    const s = replay([scheduled]);
    const big = { text: "x".repeat(MAX_DEFER_INPUT_BYTES) };
    const out = decideDefers(
      s.context,
      [
        { id: "r1", op: "DeferAdd", opts: { input: {} } },
        add("r2", [1, 2]),
        add("r3", big),
        add(
          "r4",
          {},
          { meta: { sessions: Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`k${i}`, i])) } },
        ),
        add("ok", { fine: true }),
      ],
      2000,
    ) as { deferId: string; rejected?: string }[];
    assert.deepEqual(
      out.map((e) => [e.deferId, e.rejected?.split(":")[0] ?? null]),
      [
        ["r1", "opts.fn_slug"],
        ["r2", "opts.input"],
        ["r3", "opts.input"],
        ["r4", "opts.meta"],
        ["ok", null],
      ],
    );
    const after = then(s, out as NewRunLogEntry[]);
    assert.equal(statusOf(after), "running");
    assert.equal(after.context.defers?.r3?.status, "rejected");
    assert.match(after.context.defers?.r3?.reason ?? "", /at most 262144/);
    assert.deepEqual(defersOf(after.context).r3, { abortable: false });
  });

  it("takes defers in a checkpoint, and still refuses other ops there", () => {
    const s = replay([scheduled]);
    const out = decideCheckpoint(
      s.context,
      [add("d1"), { id: "s1", op: "StepRun", name: "one", data: 1 }, abort("d1")],
      2000,
    );
    assert.ok(Array.isArray(out));
    assert.deepEqual(
      out.map((e) => e.type),
      ["defer.added", "defer.aborted", "step.completed"],
    );
    assert.match(
      decideCheckpoint(s.context, [{ id: "x1", op: "Sleep", name: "1s" }], 2000) as string,
      /DeferAdd, DeferAbort\), not "Sleep"/,
    );
  });

  it("merges the sessions a defer carries as an event's", () => {
    const s = replay([scheduled]);
    const [added] = decideDefers(
      s.context,
      [add("d1", {}, { meta: { propagated_sessions: { chat: 7, user: "u" }, sessions: { user: null } } })],
      2000,
    );
    assert.deepEqual((added as { meta?: unknown }).meta, { sessions: { chat: "7" } });
  });
});
