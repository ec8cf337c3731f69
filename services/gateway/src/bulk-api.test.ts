/**
 * Bulk operations through `app.inject()` on a gateway over a private nats-server: pausing and
 * resuming a function, replaying its failed runs of a time range (preview, then the reruns sent
 * to the inbox with progress), a bulk cancellation's preview, and the audit log of all of them.
 * Runs are written straight into their logs and RUN_INDEX (what an executor would write).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type InboxCommand, type RunIndexRecord, Subjects } from "@jetstep/core";
import { Publisher } from "@jetstep/jetstream";
import { waitFor } from "../../../test/support/index.ts";
import {
  inboxCommands,
  registerOneStepFunction,
  scheduled,
  startTestGateway,
  storedEvent,
  type TestGateway,
  then,
} from "./test-support.ts";

const FN = "bulk-fn";
const T0 = 1_700_000_000_000;

interface Op {
  id: string;
  kind: string;
  function_id: string;
  state: string;
  total: number | null;
  done: number | null;
  failed: number | null;
  reason: string | null;
  by: { credential: string; actor?: string; keyId?: string };
}

describe("bulk operations", () => {
  let gw: TestGateway;
  let publisher: Publisher;
  before(async () => {
    gw = await startTestGateway();
    publisher = new Publisher(gw.nats.nc);
    await registerOneStepFunction(gw, "bulk", FN, "bulk/x");
  });
  after(async () => {
    publisher?.close();
    await gw?.stop();
  });

  /** A run of FN that ended as `status`, started at T0 + `minute` minutes, on partition 3. */
  const endedRun = async (runId: string, minute: number, status: "Failed" | "Cancelled" | "Completed") => {
    const end =
      status === "Failed"
        ? { type: "run.failed" as const, error: { name: "Error", message: "boom" } }
        : status === "Cancelled"
          ? { type: "run.cancelled" as const, reason: "test" }
          : { type: "run.completed" as const, output: 1 };
    await gw.writeRun([
      scheduled(runId, FN, { partition: 3, event: storedEvent(`${runId}-e`, "bulk/x", { n: minute }) }),
      ...then(end),
    ]);
    const record: RunIndexRecord = {
      runId,
      fnId: FN,
      appId: "bulk",
      status,
      startedAt: T0 + minute * 60_000,
      endedAt: T0 + minute * 60_000 + 1_000,
    };
    await publisher.publishJson(Subjects.runIndex(runId), record);
  };

  it("pauses and resumes a function once each, lists it as paused, and records who did it", async () => {
    const unknown = await gw.send("POST", "/v1/functions/no-such-fn/pause");
    assert.deepEqual([unknown.status, unknown.body.error], [404, "function no-such-fn not found"]);
    const bad = await gw.send("POST", `/v1/functions/${FN}/pause`, { reason: "" });
    assert.deepEqual([bad.status, bad.body.error], [400, "reason: must not be empty"]);

    const paused = await gw.send(
      "POST",
      `/v1/functions/${FN}/pause`,
      { reason: "deploying a fix" },
      {
        "x-jetstep-actor": "Ada",
      },
    );
    assert.equal(paused.status, 200, paused.body.error);
    const again = await gw.send("POST", `/v1/functions/${FN}/pause`);
    assert.deepEqual([again.status, again.body.error], [409, `function ${FN} is already paused`]);
    const listed = (await gw.send("GET", "/v1/functions")).body.data as { id: string; paused: unknown }[];
    const fn = listed.find((f) => f.id === FN) as { paused: { reason: string; by: { actor: string } } };
    assert.equal(fn.paused.reason, "deploying a fix");
    assert.equal(fn.paused.by.actor, "Ada");

    assert.equal((await gw.send("POST", `/v1/functions/${FN}/resume`)).status, 200);
    const notPaused = await gw.send("POST", `/v1/functions/${FN}/resume`);
    assert.deepEqual([notPaused.status, notPaused.body.error], [409, `function ${FN} is not paused`]);
    const after = (await gw.send("GET", "/v1/functions")).body.data as { id: string; paused: unknown }[];
    assert.equal(after.find((f) => f.id === FN)?.paused, null);

    const ops = (await gw.send("GET", `/v1/operations?function_id=${FN}`)).body.data as Op[];
    assert.deepEqual(
      ops.filter((o) => o.kind === "pause" || o.kind === "resume").map((o) => [o.kind, o.state]),
      [
        ["resume", "done"],
        ["pause", "done"],
      ],
      "newest first, the refused ones not recorded",
    );
    const pause = ops.find((o) => o.kind === "pause") as Op;
    assert.deepEqual([pause.by.credential, pause.by.actor, pause.reason], ["none", "Ada", "deploying a fix"]);
    const one = await gw.send("GET", `/v1/operations/${pause.id}`);
    assert.equal((one.body.data as Op).id, pause.id);
    assert.equal((await gw.send("GET", "/v1/operations/01NOSUCHOP")).status, 404);
  });

  it("replays the failed runs of a range: a preview, then one rerun each, with progress", async () => {
    await endedRun("01BULKFAILED00000000000001", 1, "Failed");
    await endedRun("01BULKFAILED00000000000002", 2, "Failed");
    await endedRun("01BULKCANCEL00000000000003", 3, "Cancelled");
    await endedRun("01BULKDONE0000000000000004", 4, "Completed");
    await endedRun("01BULKFAILED00000000000005", 30, "Failed"); // outside the range
    const range = { function_id: FN, from: T0, to: T0 + 10 * 60_000 };

    const preview = await gw.send("POST", "/v1/replays", { ...range, dry_run: true });
    assert.equal(preview.status, 200, preview.body.error);
    assert.deepEqual(preview.body.data, {
      function_id: FN,
      count: 2,
      run_ids: ["01BULKFAILED00000000000001", "01BULKFAILED00000000000002"],
    });
    const both = await gw.send("POST", "/v1/replays", {
      ...range,
      statuses: ["Failed", "Cancelled"],
      dry_run: true,
    });
    assert.equal((both.body.data as { count: number }).count, 3);

    const inbox = inboxCommands(gw.nats, 3);
    try {
      const started = await gw.send("POST", "/v1/replays", range, { "x-jetstep-actor": "dev UI" });
      assert.equal(started.status, 202, started.body.error);
      const op = started.body.data as Op;
      assert.deepEqual([op.kind, op.total], ["replay", 2]);
      await waitFor(
        async () => ((await gw.send("GET", `/v1/operations/${op.id}`)).body.data as Op).state === "done",
        {
          timeoutMs: 20_000,
          message: "the replay never finished",
        },
      );
      const done = (await gw.send("GET", `/v1/operations/${op.id}`)).body.data as Op;
      assert.deepEqual([done.done, done.failed, done.by.actor], [2, 0, "dev UI"]);
      await waitFor(() => inbox.commands.length >= 2, {
        timeoutMs: 20_000,
        message: "the reruns never reached the inbox",
      });
      const starts = inbox.commands as InboxCommand[];
      assert.deepEqual(
        starts.map((c) => (c.type === "start" ? (c.event.data as { n: number }).n : -1)).sort(),
        [1, 2],
        "each failed run rerun once, with its own event",
      );
      for (const c of starts) assert.match(c.type === "start" ? (c.rerunOf ?? "") : "", /^01BULKFAILED/);
      const original = (await gw.send("GET", "/v1/runs/01BULKFAILED00000000000001")).body.data as {
        reruns: unknown[];
      };
      assert.equal(original.reruns.length, 1, "the original lists its rerun");
    } finally {
      inbox.stop();
    }
  });

  it("answers 400 naming the field of a bad replay, and 404 for an unknown function", async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ from: 0, to: 1 }, 400, /^function_id: /],
      [{ function_id: FN, to: 1 }, 400, /^from: /],
      [{ function_id: FN, from: 5, to: 1 }, 400, /^from: must be before to$/],
      [
        { function_id: FN, from: 0, to: 1, statuses: ["Running"] },
        400,
        /^statuses\.0: must be Failed, Cancelled or Completed$/,
      ],
      [{ function_id: FN, from: 0, to: 1, statuses: [] }, 400, /^statuses: must name at least one status$/],
      [{ function_id: FN, from: "yesterday", to: 1 }, 400, /^from: /],
      [{ function_id: FN, from: 0, to: 1, extra: true }, 400, /^\(body\): /],
      [{ function_id: "nope", from: 0, to: 1 }, 404, /^function_id: function nope not found$/],
    ];
    for (const [body, status, re] of cases) {
      const r = await gw.send("POST", "/v1/replays", body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.body.error ?? "", re, JSON.stringify(body));
    }
    const list = await gw.send("GET", "/v1/operations?limit=0");
    assert.equal(list.status, 400);
    assert.match(list.body.error ?? "", /^limit: /);
  });

  it("previews a bulk cancellation without cancelling, then records the cancellation", async () => {
    const preview = await gw.send("POST", "/v1/cancellations", { function_id: FN, dry_run: true });
    assert.equal(preview.status, 200, preview.body.error);
    assert.deepEqual(preview.body.data, { function_id: FN, count: 0, run_ids: [] });
    const done = await gw.send("POST", "/v1/cancellations", { function_id: FN });
    assert.equal(done.status, 200);
    const id = (done.body.data as { id: string }).id;
    const op = (await gw.send("GET", `/v1/operations/${id}`)).body.data as Op;
    assert.deepEqual([op.kind, op.state, op.total], ["cancel", "done", 0]);
  });
});
