import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAppResponse } from "./app-response.ts";
import { decideAnswer, memoOf, nextWork } from "./decide.ts";
import { ReplayError } from "./errors.ts";
import { apply, persist, replay, restore, statusOf } from "./replay.ts";
import { phaseOf } from "./run-machine.ts";
import type { RunLogEntry } from "./schemas/log.ts";

const event = { id: "evt1", name: "user/signup", data: { id: 1 }, ts: 1000 };
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
const done = (n: number, stepId: string, data: unknown): RunLogEntry => ({
  n,
  ts: 1000 + n,
  type: "step.completed",
  stepId,
  name: stepId,
  data,
  attempt: 0,
  startedAt: 1000 + n,
});

describe("replay", () => {
  it("given a scheduled run, it is running and due for discovery", () => {
    const s = replay([scheduled]);
    assert.equal(statusOf(s), "running");
    assert.deepEqual(nextWork(s), { calls: [{ stepId: null, attempt: 0 }], timers: [], waits: [] });
  });

  it("given completed steps, the memo holds them in order", () => {
    const s = replay([scheduled, done(2, "a", 1), done(3, "b", { x: 2 })]);
    assert.deepEqual(memoOf(s.context), { a: { data: 1 }, b: { data: { x: 2 } } });
    assert.equal(s.context.steps.b?.order, 2);
  });

  it("given a step error, the run is in backoff with a timer, then due again once it fires", () => {
    const errored: RunLogEntry = {
      n: 2,
      ts: 2000,
      type: "step.errored",
      stepId: "a",
      name: "a",
      error: { name: "Error", message: "boom" },
      attempt: 0,
      startedAt: 2000,
      retryAt: 3000,
      timerId: "retry-a-0",
    };
    const s = replay([scheduled, errored]);
    assert.deepEqual(nextWork(s), { calls: [], timers: [{ timerId: "retry-a-0", fireAt: 3000 }], waits: [] });
    const fired = apply(s, { n: 3, ts: 3000, type: "timer.fired", timerId: "retry-a-0" });
    assert.deepEqual(nextWork(fired), { calls: [{ stepId: null, attempt: 1 }], timers: [], waits: [] });
  });

  it("given parallel planned steps, each is called by id, then discovery once all are final", () => {
    const planned: RunLogEntry = {
      n: 2,
      ts: 2000,
      type: "steps.planned",
      steps: [
        { stepId: "a", name: "a" },
        { stepId: "b", name: "b" },
      ],
    };
    let s = replay([scheduled, planned]);
    assert.deepEqual(
      nextWork(s).calls.map((c) => c.stepId),
      ["a", "b"],
    );
    s = apply(s, done(3, "a", 1));
    assert.deepEqual(
      nextWork(s).calls.map((c) => c.stepId),
      ["b"],
    );
    s = apply(s, done(4, "b", 2));
    assert.deepEqual(nextWork(s).calls, [{ stepId: null, attempt: 0 }]);
  });

  it("ends the run on completion and accepts nothing after", () => {
    const s = replay([scheduled, done(2, "a", 1), { n: 3, ts: 5, type: "run.completed", output: "ok" }]);
    assert.equal(statusOf(s), "completed");
    assert.equal(s.context.output, "ok");
    assert.throws(() => apply(s, done(4, "b", 1)), ReplayError);
  });

  it("rejects an out-of-order entry", () => {
    assert.throws(() => replay([scheduled, done(3, "a", 1)]), /out of order: expected entry 2, got 3/);
  });

  it("rejects a malformed entry naming the field", () => {
    assert.throws(
      () => replay([scheduled, { n: 2, ts: 1, type: "step.completed", name: "a" }]),
      /malformed entry: stepId/,
    );
    assert.throws(() => replay([{ n: 1, type: "nope" }]), ReplayError);
  });

  it("rejects an entry the state does not accept", () => {
    assert.throws(() => replay([done(1, "a", 1)]), /not accepted while the run is empty/);
    assert.throws(() => replay([scheduled, done(2, "a", 1), done(3, "a", 2)]), /not accepted/);
  });

  it("restores from a persisted snapshot and continues", () => {
    const s = replay([scheduled, done(2, "a", 1)]);
    const copy = restore(JSON.parse(JSON.stringify(persist(s))));
    const next = apply(copy, done(3, "b", 2));
    assert.deepEqual(memoOf(next.context), { a: { data: 1 }, b: { data: 2 } });
    assert.equal(next.context.lastN, 3);
  });
});

describe("decideAnswer", () => {
  const opts = { now: 10_000, random: () => 0, fixedRetryIntervalMs: 500 };
  it("StepRun → step.completed", () => {
    const s = replay([scheduled]);
    const out = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      { kind: "ops", ops: [{ id: "h1", op: "StepRun", name: "a", data: 5 }] },
      opts,
    );
    assert.equal(out[0]?.type, "step.completed");
  });
  it("records the execution version the SDK answered with once, first, and keeps it on the run", () => {
    const s = replay([scheduled]);
    assert.equal(s.context.reqVersion, undefined, "calls send -1 until the SDK says");
    const answer = {
      kind: "ops" as const,
      ops: [{ id: "h1", op: "StepRun", name: "a", data: 5 }],
      reqVersion: 1,
    };
    const out = decideAnswer(s.context, { stepId: null, attempt: 0 }, answer, opts);
    assert.deepEqual(
      out.map((e) => e.type),
      ["run.versioned", "step.completed"],
    );
    const after = replay(
      out.map((e, i) => ({ ...e, n: i + 2 }) as RunLogEntry),
      s,
    );
    assert.equal(after.context.reqVersion, 1);
    const again = decideAnswer(after.context, { stepId: "x", attempt: 0 }, { ...answer, ops: [] }, opts);
    assert.ok(!again.some((e) => e.type === "run.versioned"), "the same version is not recorded again");
    const transport = decideAnswer(
      after.context,
      { stepId: "x", attempt: 0 },
      { kind: "transport", message: "x" },
      opts,
    );
    assert.ok(!transport.some((e) => e.type === "run.versioned"));
  });
  it("fails the run naming an op it does not know (Inngest's AIGateway, say), recording nothing else", () => {
    const s = replay([scheduled, done(2, "a", 1)]);
    const out = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      {
        kind: "ops",
        ops: [
          { id: "h2", op: "StepRun", name: "b", data: 2 },
          { id: "g1", op: "AIGateway", name: "infer", opts: { url: "http://model" } },
        ],
      },
      opts,
    );
    assert.deepEqual(out, [
      {
        type: "run.failed",
        ts: 10_000,
        error: { name: "UnknownOp", message: 'app answered unknown op "AIGateway"' },
      },
    ]);
  });
  it("reads x-inngest-req-version from an SDK's answer, ignoring what is not a version", () => {
    const header = (v: string | undefined) => (name: string) =>
      name === "x-inngest-req-version" ? v : undefined;
    const ops = '[{"id":"h1","op":"StepRun","name":"a","data":1}]';
    assert.equal((parseAppResponse(206, header("1"), ops, 0) as { reqVersion?: number }).reqVersion, 1);
    assert.equal((parseAppResponse(200, header("2"), "{}", 0) as { reqVersion?: number }).reqVersion, 2);
    assert.equal(
      (parseAppResponse(206, header("-1"), ops, 0) as { reqVersion?: number }).reqVersion,
      undefined,
    );
    assert.equal(
      (parseAppResponse(206, header("v9"), ops, 0) as { reqVersion?: number }).reqVersion,
      undefined,
    );
    assert.equal(
      (parseAppResponse(206, header(undefined), ops, 0) as { reqVersion?: number }).reqVersion,
      undefined,
    );
  });
  it("says why an answer is not the app's (the failure class metrics count)", () => {
    const none = () => undefined;
    const failure = (status: number, body: string) =>
      (parseAppResponse(status, none, body, 0) as { failure?: string }).failure;
    assert.equal(failure(200, "<html>"), "bad_response");
    assert.equal(failure(206, "not json"), "bad_response");
    assert.equal(failure(206, JSON.stringify([{ op: 42 }])), "bad_response");
    assert.equal(failure(401, "no"), "signature");
    assert.equal(failure(502, "bad gateway"), "http_5xx");
    assert.equal(failure(404, "not found"), "http_4xx");
    assert.equal(failure(200, "{}"), undefined);
  });
  it("fails the run, naming the rule, when a step id or a wait's event name would make a subject too long", () => {
    const s = replay([scheduled]);
    const longId = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      { kind: "ops", ops: [{ id: "h".repeat(300), op: "StepRun", name: "a", data: 5 }] },
      opts,
    );
    assert.equal(longId[0]?.type, "run.failed");
    assert.match(JSON.stringify(longId[0]), /InvalidStepId.*step id is 300 characters; at most 256/);
    const escaped = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      { kind: "ops", ops: [{ id: "é".repeat(256), op: "StepRun", name: "a", data: 5 }] },
      opts,
    );
    assert.match(JSON.stringify(escaped[0]), /step id becomes a \d+-byte subject/);
    const wait = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      {
        kind: "ops",
        ops: [{ id: "w1", op: "WaitForEvent", name: "a".repeat(5000), opts: { timeout: "1h" } }],
      },
      opts,
    );
    assert.equal(wait[0]?.type, "run.failed");
    assert.match(JSON.stringify(wait[0]), /event: must be a name of at most 256 characters/);
  });
  it("StepError before the last attempt → step.errored with a retry timer; on the last → step.failed", () => {
    const s = replay([scheduled]);
    const op = { id: "h1", op: "StepError", name: "a", error: { name: "Error", message: "x" } };
    const first = decideAnswer(s.context, { stepId: null, attempt: 0 }, { kind: "ops", ops: [op] }, opts);
    assert.deepEqual(
      first.map((e) => e.type),
      ["step.errored"],
    );
    assert.equal((first[0] as { retryAt: number }).retryAt, 10_500);
    const later = replay([
      scheduled,
      { ...(first[0] as object), n: 2 },
      { n: 3, ts: 1, type: "timer.fired", timerId: "retry-h1-0" },
      {
        n: 4,
        ts: 1,
        type: "step.errored",
        stepId: "h1",
        name: "a",
        error: { name: "E", message: "x" },
        attempt: 1,
        startedAt: 1,
        retryAt: 2,
        timerId: "retry-h1-1",
      },
      { n: 5, ts: 2, type: "timer.fired", timerId: "retry-h1-1" },
    ]);
    const last = decideAnswer(
      later.context,
      nextWork(later).calls[0] as never,
      { kind: "ops", ops: [op] },
      opts,
    );
    assert.deepEqual(
      last.map((e) => e.type),
      ["step.failed"],
    );
  });
  it("a non-retriable error fails the run; transport errors retry at function level", () => {
    const s = replay([scheduled]);
    const call = { stepId: null, attempt: 0 };
    assert.equal(
      decideAnswer(
        s.context,
        call,
        { kind: "error", error: { name: "E", message: "m" }, noRetry: true },
        opts,
      )[0]?.type,
      "run.failed",
    );
    const t = decideAnswer(s.context, call, { kind: "transport", message: "app answered 502" }, opts);
    assert.equal(t[0]?.type, "step.errored");
    assert.match(JSON.stringify(t[0]), /app answered 502/);
  });
});

describe("waits", () => {
  const waitStarted: RunLogEntry = {
    n: 2,
    ts: 2000,
    type: "wait.started",
    stepId: "w",
    name: "for-pay",
    event: "shop/paid",
    if: "event.data.id == async.data.id",
    afterSeq: 41,
    timeoutAt: 9000,
    timerId: "wait-w",
  };
  it("given a wait, the run waits with a timeout timer and an open wait", () => {
    const s = replay([scheduled, waitStarted]);
    assert.equal(phaseOf(statusOf(s), s.context), "waiting");
    assert.deepEqual(nextWork(s), {
      calls: [],
      timers: [{ timerId: "wait-w", fireAt: 9000 }],
      waits: [
        {
          waitId: "w",
          kind: "step",
          event: "shop/paid",
          afterSeq: 41,
          if: "event.data.id == async.data.id",
          until: 9000,
        },
      ],
    });
  });
  it("a matching event resolves the wait with the event itself as memo", () => {
    const paid = { id: "e2", name: "shop/paid", data: { id: 1 }, ts: 3000 };
    const s = replay([
      scheduled,
      waitStarted,
      { n: 3, ts: 3000, type: "wait.matched", stepId: "w", event: paid },
    ]);
    assert.deepEqual(memoOf(s.context), { w: paid });
    assert.deepEqual(nextWork(s).calls, [{ stepId: null, attempt: 0 }]);
    assert.throws(
      () => apply(s, { n: 4, ts: 3001, type: "wait.matched", stepId: "w", event: paid }),
      /not accepted/,
    );
  });
  it("the timeout resolves the wait with null", () => {
    const s = replay([scheduled, waitStarted, { n: 3, ts: 9000, type: "timer.fired", timerId: "wait-w" }]);
    assert.deepEqual(memoOf(s.context), { w: null });
  });
  it("cancelOn entries are open waits until the run ends", () => {
    const s = replay([
      { ...scheduled, eventSeq: 7, cancelOn: [{ event: "x/cancel", if: "true", until: 5000 }] },
    ]);
    assert.deepEqual(nextWork(s).waits, [
      { waitId: "cancel-0", kind: "cancel", event: "x/cancel", afterSeq: 7, if: "true", until: 5000 },
    ]);
    const ended = apply(s, { n: 2, ts: 3, type: "run.cancelled", reason: "x" });
    assert.deepEqual(nextWork(ended).waits, []);
  });
  it("a WaitForEvent op becomes wait.started after the current end of EVENTS", () => {
    const s = replay([scheduled]);
    const [entry] = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      {
        kind: "ops",
        ops: [
          {
            id: "w",
            op: "WaitForEvent",
            name: "shop/paid",
            displayName: "for-pay",
            opts: { timeout: "1m", if: "true" },
          },
        ],
      },
      { now: 1000, random: () => 0, eventsLastSeq: 99 },
    );
    assert.deepEqual(entry, {
      type: "wait.started",
      ts: 1000,
      stepId: "w",
      name: "for-pay",
      event: "shop/paid",
      if: "true",
      afterSeq: 99,
      timeoutAt: 61_000,
      timerId: "wait-w",
    });
    const bad = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      { kind: "ops", ops: [{ id: "w", op: "WaitForEvent", name: "shop/paid", opts: { timeout: "soon" } }] },
      { now: 1000, random: () => 0 },
    );
    assert.equal(bad[0]?.type, "run.failed");
  });
  it("an InvokeFunction op waits for the target's finish; a timer only when it has a timeout", () => {
    const s = replay([scheduled]);
    const invoke = (opts: Record<string, unknown>) =>
      decideAnswer(
        s.context,
        { stepId: null, attempt: 0 },
        { kind: "ops", ops: [{ id: "c", op: "InvokeFunction", displayName: "child", opts }] },
        { now: 1000, random: () => 0, eventsLastSeq: 5 },
      );
    const [forever] = invoke({ function_id: "app-child", payload: { data: { x: 1 } } });
    assert.deepEqual(forever, {
      type: "wait.started",
      ts: 1000,
      stepId: "c",
      name: "child",
      event: "inngest/function.finished",
      if: 'async.data.correlation_id == "RUN1.c"',
      afterSeq: 5,
      invoke: { functionId: "app-child", data: { x: 1 }, correlationId: "RUN1.c" },
    });
    const waiting = apply(s, { ...forever, n: 2 } as RunLogEntry);
    assert.equal(phaseOf(statusOf(waiting), waiting.context), "waiting");
    assert.deepEqual(nextWork(waiting).timers, [], "no timer without a timeout");
    assert.deepEqual(nextWork(waiting).calls, [], "no discovery while the invoke waits");
    assert.deepEqual(
      nextWork(waiting).waits.map((w) => [w.waitId, w.until, w.correlationId]),
      [["c", undefined, "RUN1.c"]],
    );
    const [bounded] = invoke({ function_id: "app-child", timeout: "1h" });
    assert.equal((bounded as { timeoutAt?: number }).timeoutAt, 1000 + 3_600_000);
    const timed = apply(s, { ...bounded, n: 2 } as RunLogEntry);
    assert.deepEqual(nextWork(timed).timers, [{ timerId: "wait-c", fireAt: 3_601_000 }]);
  });
});

describe("saga compensation", () => {
  const step = (n: number, stepId: string, compensable: boolean): RunLogEntry => ({
    n,
    ts: 100 + n,
    type: "step.completed",
    stepId,
    name: stepId,
    data: { v: stepId },
    attempt: 0,
    startedAt: 100 + n,
    ...(compensable ? { compensable: true } : {}),
  });
  const opts = { now: 1000, random: () => 0, fixedRetryIntervalMs: 10 };
  const base = [scheduled, step(2, "reserve", true), step(3, "log", false), step(4, "charge", true)];

  it("turns a permanent failure into compensation of compensable steps, newest first", () => {
    const s = replay(base);
    const out = decideAnswer(
      s.context,
      { stepId: null, attempt: 0 },
      { kind: "error", error: { name: "E", message: "ship" }, noRetry: true },
      opts,
    );
    assert.deepEqual(out, [
      {
        type: "compensation.started",
        ts: 1000,
        reason: "failed",
        error: { name: "E", message: "ship" },
        steps: ["charge", "reserve"],
      },
    ]);
  });

  it("runs compensations one by one, retries them with timers, and ends compensated", () => {
    let s = replay([
      ...base,
      { n: 5, ts: 200, type: "compensation.started", reason: "failed", steps: ["charge", "reserve"] },
    ]);
    assert.equal(statusOf(s), "compensating");
    assert.deepEqual(nextWork(s).calls, [{ stepId: "charge", attempt: 0, compensate: true }]);
    const errored = decideAnswer(
      s.context,
      { stepId: "charge", attempt: 0, compensate: true },
      { kind: "transport", message: "down" },
      opts,
    );
    assert.equal(errored[0]?.type, "compensation.errored");
    s = apply(s, { ...(errored[0] as object), n: 6 });
    assert.deepEqual(nextWork(s), {
      calls: [],
      timers: [{ timerId: "compensate-charge-0", fireAt: 1010 }],
      waits: [],
    });
    s = apply(s, { n: 7, ts: 1010, type: "timer.fired", timerId: "compensate-charge-0" });
    assert.deepEqual(nextWork(s).calls, [{ stepId: "charge", attempt: 1, compensate: true }]);
    s = apply(s, {
      n: 8,
      ts: 1020,
      type: "compensation.completed",
      stepId: "charge",
      data: null,
      attempt: 1,
      startedAt: 1015,
    });
    assert.deepEqual(nextWork(s).calls, [{ stepId: "reserve", attempt: 0, compensate: true }]);
    s = apply(s, {
      n: 9,
      ts: 1030,
      type: "compensation.completed",
      stepId: "reserve",
      data: null,
      attempt: 0,
      startedAt: 1025,
    });
    assert.equal(statusOf(s), "compensated");
    assert.throws(() => apply(s, { n: 10, ts: 1, type: "run.completed", output: 1 }), /not accepted/);
  });

  it("ends compensation_failed when a compensation fails for good", () => {
    let s = replay([
      ...base,
      { n: 5, ts: 200, type: "compensation.started", reason: "failed", steps: ["charge", "reserve"] },
    ]);
    s = apply(s, {
      n: 6,
      ts: 300,
      type: "compensation.failed",
      stepId: "charge",
      error: { name: "E", message: "x" },
      attempt: 2,
      startedAt: 290,
    });
    assert.deepEqual(
      nextWork(s).calls,
      [{ stepId: "reserve", attempt: 0, compensate: true }],
      "the others still run",
    );
    s = apply(s, {
      n: 7,
      ts: 310,
      type: "compensation.completed",
      stepId: "reserve",
      data: null,
      attempt: 0,
      startedAt: 305,
    });
    assert.equal(statusOf(s), "compensation_failed");
  });

  it("rejects compensation of a step that registered none", () => {
    assert.throws(
      () =>
        replay([...base, { n: 5, ts: 1, type: "compensation.started", reason: "failed", steps: ["log"] }]),
      /not accepted/,
    );
  });
});
