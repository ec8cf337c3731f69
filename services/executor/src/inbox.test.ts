import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyEntries, initialRun, type RunLogEntry, type StartRunCommand, statusOf } from "@jetstep/core";
import type { Delivery } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { Inbox, type InboxDeps, startEntries } from "./inbox.ts";

const event = { id: "01J0000000000000000000000A", name: "order/placed", data: { n: 1 }, ts: 1_000 };
const base: StartRunCommand = {
  type: "start",
  runId: "01J0000000000000000000000R",
  fnId: "shop-fulfil",
  appId: "shop",
  url: "http://127.0.0.1:3000/api/inngest",
  maxAttempts: 4,
  event,
  events: [event],
};

const numbered = (entries: ReturnType<typeof startEntries>): RunLogEntry[] =>
  entries.map((e, i) => ({ ...e, n: i + 1 }) as RunLogEntry);

describe("startEntries", () => {
  it("schedules the run in the partition it was started in, with what the command carried", () => {
    const cmd: StartRunCommand = {
      ...base,
      eventSeq: 42,
      concurrency: [{ key: "shop-fulfil", limit: 2 }],
      priority: -30,
      cancelOn: [{ event: "order/cancelled", until: 90_000 }],
      compensateOnCancel: true,
    };
    const [scheduled, ...rest] = startEntries(cmd, 7, 5_000);
    assert.equal(rest.length, 0);
    assert.deepEqual(scheduled, {
      type: "run.scheduled",
      ts: 5_000,
      runId: base.runId,
      fnId: "shop-fulfil",
      appId: "shop",
      url: base.url,
      maxAttempts: 4,
      partition: 7,
      event,
      events: [event],
      eventSeq: 42,
      cancelOn: [{ event: "order/cancelled", until: 90_000 }],
      compensateOnCancel: true,
      concurrency: [{ key: "shop-fulfil", limit: 2 }],
      priority: -30,
    });
    const { after } = applyEntries(initialRun(), numbered([scheduled as never]));
    assert.equal(statusOf(after), "running");
    assert.equal(after.context.partition, 7);
  });

  it("carries the command's timeouts unchanged", () => {
    const timeouts = { startBy: 11_000, start: "10s", finishAfterMs: 60_000, finish: "1m" };
    const [scheduled] = startEntries({ ...base, timeouts }, 0, 5_000);
    assert.deepEqual((scheduled as { timeouts?: unknown }).timeouts, timeouts);
  });

  it("writes a start command of a matcher before run specs (registered durations) in today's form", () => {
    const [scheduled] = startEntries({ ...base, timeouts: { start: "10s", finish: 60_000 } }, 0, 5_000);
    assert.deepEqual((scheduled as { timeouts?: unknown }).timeouts, {
      startBy: 1_000 + 10_000,
      start: "10s",
      finishAfterMs: 60_000,
      finish: "60000 ms",
    });
    const [none] = startEntries({ ...base, timeouts: {} }, 0, 5_000);
    assert.deepEqual((none as { timeouts?: unknown }).timeouts, {});
  });

  it("records a rerun's earlier steps as completed before the first call", () => {
    const entries = startEntries(
      {
        ...base,
        seed: [
          { stepId: "s1", name: "reserve", data: { ok: true } },
          { stepId: "s2", name: "charge", data: undefined },
        ],
      },
      1,
      5_000,
    );
    assert.deepEqual(
      entries
        .slice(1)
        .map((e) => [e.type, (e as { stepId?: string }).stepId, (e as { data?: unknown }).data]),
      [
        ["step.completed", "s1", { ok: true }],
        ["step.completed", "s2", null],
      ],
    );
    const { after } = applyEntries(initialRun(), numbered(entries));
    assert.equal(after.context.steps.s1?.status, "completed");
    assert.equal(after.context.steps.s2?.status, "completed");
  });

  it("rejects a timeout that is not a duration", () => {
    assert.throws(() => startEntries({ ...base, timeouts: { finish: "soon" } }, 0, 5_000), /duration/i);
  });
});

describe("Inbox: commands are handled only under a valid lease", () => {
  /** A delivery of `cmd` that records what was done with it. */
  const delivery = (cmd: unknown, done: string[]): Delivery => ({
    subject: "inbox.3",
    seq: 1,
    data: new TextEncoder().encode(JSON.stringify(cmd)),
    info: { stream: "INBOX", deliveryCount: 1 },
    json: <T>() => cmd as T,
    string: () => JSON.stringify(cmd),
    ack: () => done.push("ack"),
    nak: () => done.push("nak"),
    working: () => done.push("working"),
    term: () => done.push("term"),
  });
  /** An inbox whose lease check answers `valid`, recording every run it would start. */
  const inbox = (valid: boolean, started: string[], asked: number[]) =>
    new Inbox({
      log: silentLogger(),
      now: () => 1_000,
      active: () => true,
      leaseValid: async (p: number) => {
        asked.push(p);
        return valid;
      },
      runs: {
        withActor: async (runId: string) => {
          started.push(runId);
        },
      },
    } as unknown as InboxDeps);

  it("sends a command back to the consumer when the partition's lease lapsed (a process resumed after a stop)", async () => {
    const done: string[] = [];
    const started: string[] = [];
    const asked: number[] = [];
    await inbox(false, started, asked).onInbox(3, delivery(base, done));
    assert.deepEqual(asked, [3]);
    assert.deepEqual(started, [], "no run started by a process that may no longer hold the partition");
    assert.deepEqual(done, ["nak"], "delivered again, to whoever holds the partition now");
  });

  it("handles and acks it under a valid lease", async () => {
    const done: string[] = [];
    const started: string[] = [];
    await inbox(true, started, []).onInbox(3, delivery(base, done));
    assert.deepEqual(started, [base.runId]);
    assert.deepEqual(done, ["ack"]);
  });
});
