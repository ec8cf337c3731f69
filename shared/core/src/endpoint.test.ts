/**
 * Durable endpoints: a run in sync mode is never called; what the app's reports record; what ends
 * sync mode (the app, or the app going quiet for `syncTimeoutMs`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nextWork, RUN_COMPLETE_OP_ID } from "./decide.ts";
import { decideEndpointSteps, HTTP_REQUEST_EVENT } from "./endpoint.ts";
import { type RunSnapshot, replay, statusOf } from "./replay.ts";
import { ENDPOINT_SYNC_TIMER, endpointSyncTimer } from "./run-machine.ts";
import type { CheckpointStep } from "./schemas/checkpoint.ts";
import type { NewRunLogEntry, RunLogEntry } from "./schemas/log.ts";

const event = {
  id: "RUN1-request",
  name: HTTP_REQUEST_EVENT,
  data: { method: "GET", domain: "http://app", path: "/hello" },
  ts: 1000,
};
const scheduled: RunLogEntry = {
  n: 1,
  ts: 1000,
  type: "run.scheduled",
  runId: "RUN1",
  fnId: "app-get-hello",
  appId: "app",
  url: "http://app/hello",
  maxAttempts: 3,
  partition: 0,
  event,
  events: [event],
  endpoint: { tokenHash: "0".repeat(64), syncTimeoutMs: 60_000 },
};
const opts = (now: number) => ({ now, random: () => 0, fixedRetryIntervalMs: 100 });
const ran = (id: string, data: unknown): CheckpointStep => ({ id, op: "StepRun", name: id, data });

function then(s: RunSnapshot, entries: NewRunLogEntry[] | string): RunSnapshot {
  assert.ok(typeof entries !== "string", String(entries));
  return replay(
    entries.map((e, i) => ({ ...e, n: s.context.lastN + i + 1 }) as RunLogEntry),
    s,
  );
}

describe("durable endpoints", () => {
  it("in sync mode nothing is called; the only timer is the one that ends sync mode", () => {
    const s = replay([scheduled]);
    const work = nextWork(s);
    assert.deepEqual(work.calls, []);
    assert.deepEqual(work.timers, [{ timerId: `${ENDPOINT_SYNC_TIMER}-61000`, fireAt: 61_000 }]);
  });

  it("records reported steps once; each report moves the sync deadline on", () => {
    let s = replay([scheduled]);
    s = then(s, decideEndpointSteps(s.context, [ran("a", 1)], opts(5000)));
    assert.equal(s.context.steps.a?.status, "completed");
    assert.equal(endpointSyncTimer(s.context)?.fireAt, 65_000);
    // The same report again (its answer was lost) records nothing.
    assert.deepEqual(decideEndpointSteps(s.context, [ran("a", 1)], opts(6000)), []);
    assert.deepEqual(nextWork(s).calls, []);
  });

  it("RunComplete ends the run with the endpoint's response", () => {
    let s = replay([scheduled]);
    const response = { status: 200, headers: {}, body: '{"ok":true}' };
    s = then(
      s,
      decideEndpointSteps(
        s.context,
        [ran("a", 1), { id: RUN_COMPLETE_OP_ID, op: "RunComplete", data: response }],
        opts(5000),
      ),
    );
    assert.equal(statusOf(s), "completed");
    assert.deepEqual(s.context.output, response);
    assert.equal(s.context.steps.a?.status, "completed");
  });

  it("a sleep makes the run async: its timer, then calls to the endpoint", () => {
    let s = replay([scheduled]);
    const out = decideEndpointSteps(
      s.context,
      [{ id: "nap", op: "Sleep", name: "nap", opts: { duration: "1s" } }],
      opts(5000),
    );
    assert.ok(typeof out !== "string");
    assert.deepEqual(
      out.map((e) => e.type),
      ["endpoint.async", "sleep.started"],
    );
    s = then(s, out);
    assert.equal(s.context.endpoint?.sync, false);
    assert.equal(endpointSyncTimer(s.context), undefined);
    assert.deepEqual(nextWork(s).timers, [{ timerId: "sleep-nap", fireAt: 6000 }]);
    s = then(s, [{ type: "timer.fired", ts: 6000, timerId: "sleep-nap" }]);
    assert.deepEqual(nextWork(s).calls, [{ stepId: null, attempt: 0 }]);
  });

  it("a step error is retried by calling the endpoint after the backoff", () => {
    let s = replay([scheduled]);
    s = then(
      s,
      decideEndpointSteps(
        s.context,
        [{ id: "b", op: "StepError", name: "b", error: { name: "Error", message: "boom" } }],
        opts(5000),
      ),
    );
    assert.equal(s.context.steps.b?.status, "backoff");
    assert.deepEqual(nextWork(s).timers, [{ timerId: "retry-b-0", fireAt: 5100 }]);
  });

  it("once async, reports record completed steps and the end, nothing else", () => {
    let s = replay([scheduled]);
    s = then(s, decideEndpointSteps(s.context, [{ id: "x", op: "DiscoveryRequest" }], opts(5000)));
    assert.equal(s.context.endpoint?.sync, false);
    assert.deepEqual(nextWork(s).calls, [{ stepId: null, attempt: 0 }]);
    const late = decideEndpointSteps(
      s.context,
      [ran("a", 1), { id: "nap", op: "Sleep", name: "nap", opts: { duration: "1s" } }],
      opts(6000),
    );
    assert.ok(typeof late !== "string");
    assert.deepEqual(
      late.map((e) => e.type),
      ["step.completed"],
    );
  });

  it("the app going quiet ends sync mode when the current deadline's timer fires (not an older one)", () => {
    let s = replay([scheduled]);
    const first = endpointSyncTimer(s.context)?.timerId as string;
    s = then(s, decideEndpointSteps(s.context, [ran("a", 1)], opts(5000)));
    // A report moved the deadline: the first deadline's timer is no longer due (the executor
    // records a timer's firing only while nextWork lists it).
    assert.ok(!nextWork(s).timers.some((t) => t.timerId === first));
    const current = endpointSyncTimer(s.context)?.timerId as string;
    s = then(s, [{ type: "timer.fired", ts: 65_000, timerId: current }]);
    assert.equal(s.context.endpoint?.sync, false);
    assert.deepEqual(nextWork(s).calls, [{ stepId: null, attempt: 0 }]);
  });

  it("a report for a run that is not an endpoint's is refused", () => {
    const { endpoint: _none, ...plain } = scheduled as Extract<RunLogEntry, { type: "run.scheduled" }>;
    const s = replay([plain]);
    assert.match(String(decideEndpointSteps(s.context, [ran("a", 1)], opts(5000))), /not a durable endpoint/);
  });
});
