import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Headers, InternalEvents, runIdFor, type StoredEvent, type ThrottleSpec } from "@jetstep/core";
import type { Delivery, RegisteredFunction } from "@jetstep/jetstream";
import { type EventIndex, EventMatching, type EventMatchingDeps } from "./event-matching.ts";
import type { FlowDecision } from "./flow.ts";
import { RecordingLog, registered } from "./test-support.ts";

const event: StoredEvent = {
  id: "01J0000000000000000000000E",
  name: "order/placed",
  data: { id: 1 },
  ts: 10_000,
};

/** An EVENTS message; `settled` says whether it was acked or terminated. */
function message(body: unknown, seq = 7, traceparent?: string) {
  const msg = {
    seq,
    subject: "events.order/placed",
    settled: "" as "" | "ack" | "term",
    headers: traceparent ? { get: (h: string) => (h === Headers.traceparent ? traceparent : "") } : undefined,
    json: () => {
      if (body instanceof Error) throw body;
      return body;
    },
    ack() {
      msg.settled = "ack";
    },
    term() {
      msg.settled = "term";
    },
  };
  return msg;
}

interface Calls {
  started: { fnId: string; runId: string; seq: number; opts: unknown }[];
  indexed: EventIndex[];
  debounced: string[];
  waitsMatched: number[];
  missing: string[];
}

function matching(functions: RegisteredFunction[], over: Partial<EventMatchingDeps> = {}) {
  const calls: Calls = { started: [], indexed: [], debounced: [], waitsMatched: [], missing: [] };
  const deps: EventMatchingDeps = {
    log: new RecordingLog(),
    index: async (record) => {
      calls.indexed.push(record);
    },
    registry: { functions: () => functions },
    triggers: {
      match: (e, fns) => fns.filter((f) => f.fn.triggers.some((t) => "event" in t && t.event === e.name)),
    },
    idempotency: { admit: async () => true },
    flow: { decide: async (): Promise<FlowDecision> => ({ start: true }) },
    debouncer: {
      add: async (f) => {
        calls.debounced.push(f.fn.id);
      },
    },
    batcher: { add: async () => undefined },
    waits: {
      match: async (_e, seq) => {
        calls.waitsMatched.push(seq);
      },
    },
    starter: {
      start: async (f, runId, _events, seq, opts) => {
        calls.started.push({ fnId: f.fn.id, runId, seq, opts });
      },
      invokeTargetMissing: async (e) => {
        calls.missing.push(e.id);
      },
    },
    ...over,
  };
  return { m: new EventMatching(deps), calls, log: deps.log as RecordingLog };
}

const runOf = (fnId: string) => runIdFor(event.id, fnId, event.ts);

describe("EventMatching", () => {
  it("starts a run per triggered function under an id derived from the event, indexes them, offers the event to waits, acks", async () => {
    const { m, calls } = matching([
      registered("a"),
      registered("b"),
      registered("other", { triggers: [{ event: "x" }] }),
    ]);
    const msg = message(event, 7, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    await m.onEvent(msg as unknown as Delivery);
    assert.deepEqual(
      calls.started.map((s) => [s.fnId, s.runId, s.seq]),
      [
        ["a", runOf("a"), 7],
        ["b", runOf("b"), 7],
      ],
    );
    assert.deepEqual(calls.started[0]?.opts, {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    assert.deepEqual(calls.indexed, [
      {
        eventId: event.id,
        name: "order/placed",
        ts: event.ts,
        seq: 7,
        runs: [
          { runId: runOf("a"), fnId: "a" },
          { runId: runOf("b"), fnId: "b" },
        ],
      },
    ]);
    assert.deepEqual(calls.waitsMatched, [7]);
    assert.equal(msg.settled, "ack");
  });

  it("skips, with the reason in the index: an idempotency key already used, a flow limit, a debounce", async () => {
    const throttle: ThrottleSpec = {
      key: "t",
      limit: 1,
      periodMs: 1000,
      burst: 1,
      queued: true,
    } as ThrottleSpec;
    const { m, calls } = matching(
      [
        registered("dup", { idempotency: "event.data.id" }),
        registered("limited"),
        registered("quiet", { debounce: { period: "5s" } }),
        registered("throttled"),
      ],
      {
        idempotency: { admit: async (fnId) => fnId !== "dup" },
        flow: {
          decide: async (f): Promise<FlowDecision> =>
            f.fn.id === "limited"
              ? { start: false, reason: "rate limit: 1 per 1m reached" }
              : f.fn.id === "throttled"
                ? { start: true, throttle }
                : { start: true },
        },
      },
    );
    const msg = message(event);
    await m.onEvent(msg as unknown as Delivery);
    assert.deepEqual(calls.debounced, ["quiet"]);
    assert.deepEqual(
      calls.started.map((s) => [s.fnId, s.opts]),
      [["throttled", { throttle }]],
    );
    assert.deepEqual(
      calls.indexed[0]?.skipped?.map((s) => s.fnId),
      ["dup", "limited", "quiet"],
    );
    assert.match(calls.indexed[0]?.skipped?.[1]?.reason ?? "", /rate limit/);
    assert.equal(msg.settled, "ack");
  });

  it("lists a batched event under its batch's run and leaves the start to the batcher", async () => {
    const { m, calls } = matching([registered("batched", { batchEvents: { maxSize: 10, timeout: "5s" } })], {
      batcher: { add: async () => "batch-run-1" },
    });
    await m.onEvent(message(event) as unknown as Delivery);
    assert.deepEqual(calls.started, []);
    assert.deepEqual(calls.indexed[0]?.runs, [{ runId: "batch-run-1", fnId: "batched" }]);
  });

  it("terminates a malformed event without starting or indexing anything", async () => {
    const { m, calls } = matching([registered("a")]);
    for (const body of [new Error("not JSON"), { name: "order/placed" }]) {
      const msg = message(body);
      await m.onEvent(msg as unknown as Delivery);
      assert.equal(msg.settled, "term");
    }
    assert.deepEqual([calls.started, calls.indexed, calls.waitsMatched], [[], [], []]);
  });

  it("indexes no lifecycle event that starts nothing, but still offers it to waits", async () => {
    const { m, calls } = matching([registered("a")]);
    const finished = { ...event, name: InternalEvents.functionFinished };
    await m.onEvent(message(finished) as unknown as Delivery);
    assert.deepEqual(calls.indexed, []);
    assert.deepEqual(calls.waitsMatched, [7]);
  });

  it("answers an invoke of a function nobody registered", async () => {
    const { m, calls } = matching([registered("a")]);
    const invoked = { ...event, name: InternalEvents.functionInvoked, data: { _inngest: { fn_id: "nope" } } };
    await m.onEvent(message(invoked) as unknown as Delivery);
    assert.deepEqual(calls.missing, [event.id]);
  });

  it("does not ack an event whose start could not be sent (it is redelivered)", async () => {
    const { m } = matching([registered("a")], {
      starter: {
        start: async () => {
          throw new Error("INBOX unavailable");
        },
        invokeTargetMissing: async () => undefined,
      },
    });
    const msg = message(event);
    await assert.rejects(m.onEvent(msg as unknown as Delivery), /INBOX unavailable/);
    assert.equal(msg.settled, "");
  });
});
