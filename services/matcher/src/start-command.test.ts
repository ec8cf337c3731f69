import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { partitionOf, type StoredEvent } from "@jetstep/core";
import { startCommand } from "./start-command.ts";
import { RecordingLog, registered } from "./test-support.ts";

const event: StoredEvent = {
  id: "01J0000000000000000000000E",
  name: "order/placed",
  data: { user: "u7", p: 250 },
  ts: 10_000,
};

describe("startCommand", () => {
  it("carries what the function registered: URL, attempts, timeouts, saga and cancelOn deadlines", () => {
    const f = registered("fulfil", {
      steps: {
        step: { id: "step", name: "step", runtime: { url: "http://app.test/x" }, retries: { attempts: 2 } },
      },
      timeouts: { start: "5m", finish: "1h" },
      compensateOnCancel: true,
      cancel: [
        { event: "order/cancelled", if: "async.data.id == event.data.id", timeout: "30s" },
        { event: "user/gone" },
      ],
    });
    const { cmd } = startCommand(f, "run-1", [event], 42, 16, new RecordingLog(), {
      traceparent: "00-aa-bb-01",
    });
    assert.deepEqual(cmd, {
      type: "start",
      runId: "run-1",
      fnId: "fulfil",
      appId: "shop",
      url: "http://app.test/x",
      maxAttempts: 3,
      event,
      events: [event],
      eventSeq: 42,
      timeouts: { startBy: 10_000 + 300_000, start: "5m", finishAfterMs: 3_600_000, finish: "1h" },
      compensateOnCancel: true,
      cancelOn: [
        { event: "order/cancelled", if: "async.data.id == event.data.id", until: 10_000 + 30_000 },
        { event: "user/gone" },
      ],
      traceparent: "00-aa-bb-01",
    });
  });

  it("puts runs sharing a concurrency key in that key's partition; a function-wide limit decides", () => {
    const log = new RecordingLog();
    const keyed = registered("per-user", { concurrency: { limit: 1, key: "event.data.user" } });
    const a = startCommand(keyed, "run-a", [event], 1, 16, log);
    const b = startCommand(keyed, "run-b", [{ ...event, id: "other" }], 2, 16, log);
    assert.equal(a.partition, b.partition, "same user, same partition");
    assert.equal(a.partition, partitionOf(a.cmd.concurrency?.[0]?.key as string, 16));
    const both = registered("both", {
      concurrency: [{ limit: 1, key: "event.data.user" }, { limit: 5 }],
    });
    const c = startCommand(both, "run-c", [event], 3, 16, log);
    assert.equal(c.cmd.concurrency?.length, 2);
    assert.equal(
      c.partition,
      partitionOf(c.cmd.concurrency?.[1]?.key as string, 16),
      "the function-wide key",
    );
    const none = startCommand(registered("free"), "run-d", [event], 4, 16, log);
    assert.equal(none.partition, partitionOf("run-d", 16));
    assert.equal("concurrency" in none.cmd, false);
  });

  it("evaluates priority in seconds, clamped to ±600; a failing expression is 0 and warned once", () => {
    const log = new RecordingLog();
    const p = (expr: string) =>
      startCommand(registered("prio", { priority: { run: expr } }), "r", [event], 1, 4, log).cmd.priority;
    assert.equal(p("event.data.p"), 250);
    assert.equal(p("event.data.p * 10.0"), 600);
    assert.equal(p("-5000.0"), -600);
    assert.equal(p("0.0"), undefined);
    assert.equal(p("event.data.missing.deeper"), undefined);
    assert.equal(p("event.data.missing.deeper"), undefined);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0]?.message ?? "", /priority expression failed/);
  });

  it("falls back to the default concurrency bucket when a key fails, warning once per key", () => {
    const log = new RecordingLog();
    const f = registered("bad-key", { concurrency: { limit: 2, key: "event.data.nope.deeper" } });
    startCommand(f, "r1", [event], 1, 4, log);
    const { cmd } = startCommand(f, "r2", [event], 2, 4, log);
    assert.equal(cmd.concurrency?.length, 1);
    assert.equal(log.warnings.length, 1);
  });
});
