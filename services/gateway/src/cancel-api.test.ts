/**
 * Cancelling runs (`DELETE /v1/runs/:id`, `POST /v1/cancellations`) through `app.inject()` on a
 * gateway over a private nats-server. Runs are written straight into their logs; the test plays
 * the partition's owner where one is needed (it records the cancel the route sends to the inbox).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type InboxCommand, Keys, Subjects } from "@jetstep/core";
import { waitFor } from "../../../test/support/index.ts";
import {
  inboxCommands,
  scheduled,
  startTestGateway,
  storedEvent,
  type TestGateway,
  then,
} from "./test-support.ts";

describe("cancelling runs", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw?.stop());

  /** Marks a run active in ACTIVE (`p<n>.` due, `q<n>.` parked), as its owner does. */
  const markActive = (runId: string, fnId: string, createdAt: number, parked = false) =>
    gw.buckets.active.put(
      parked ? `q0.${runId}` : Keys.active(0, runId),
      JSON.stringify({ fnId, createdAt }),
    );

  /** The owner of partition `p`: records every cancel it is sent, as the executor does. */
  const actAsOwner = (p: number) =>
    gw.nats.nc.subscribe(Subjects.inbox(p), {
      callback: (_e, m) => {
        const cmd = m.json<Extract<InboxCommand, { type: "cancel" }>>();
        void gw.runLog
          .lastSeq(cmd.runId)
          .then((seq) =>
            gw.runLog.append(cmd.runId, then({ type: "run.cancelled", reason: cmd.reason }), seq),
          );
      },
    });

  it("DELETE answers 404 for a run that does not exist or an id no run can have", async () => {
    for (const id of ["01JNOSUCHRUN", "a.b", "with%20space"]) {
      const r = await gw.send("DELETE", `/v1/runs/${id}`);
      assert.equal(r.status, 404, id);
      assert.match(r.body.error ?? "", /^run .+ not found$/);
    }
  });

  it("DELETE answers 409 for a run that already ended, naming how", async () => {
    const ended: [string, Parameters<typeof then>[0], string][] = [
      ["01JCANCELDONE", { type: "run.completed", output: 1 }, "Completed"],
      ["01JCANCELFAILED", { type: "run.failed", error: { name: "Error", message: "boom" } }, "Failed"],
      ["01JCANCELGONE", { type: "run.cancelled", reason: "earlier" }, "Cancelled"],
    ];
    for (const [runId, end, status] of ended) {
      await gw.writeRun([scheduled(runId, "shop-charge"), ...then(end)]);
      const r = await gw.send("DELETE", `/v1/runs/${runId}`);
      assert.deepEqual(r, { status: 409, body: { error: `run ${runId} already ended (${status})` } });
    }
  });

  it("DELETE sends a running run's owner a cancel and answers the cancelled run", async () => {
    const runId = "01JCANCELRUNNING";
    await gw.writeRun([scheduled(runId, "shop-charge", { partition: 5 })]);
    const sub = actAsOwner(5);
    try {
      const r = await gw.send("DELETE", `/v1/runs/${runId}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const run = r.body.data as { run_id: string; status: string; cancel_reason: string };
      assert.deepEqual(
        { run_id: run.run_id, status: run.status, cancel_reason: run.cancel_reason },
        { run_id: runId, status: "Cancelled", cancel_reason: "cancelled via the API" },
      );
    } finally {
      sub.unsubscribe();
    }
  });

  it("DELETE takes a reason, and refuses a bad body with 400 naming the field", async () => {
    const runId = "01JCANCELREASON";
    await gw.writeRun([scheduled(runId, "shop-charge", { partition: 6 })]);
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      [{ reason: 5 }, /^reason: /],
      [{ reason: "  " }, /^reason: must not be empty$/],
      [{ reason: "x".repeat(501) }, /^reason: is longer than 500 characters$/],
      [{ why: "no" }, /^\(body\): /],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("DELETE", `/v1/runs/${runId}`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
    const sub = actAsOwner(6);
    try {
      const r = await gw.send("DELETE", `/v1/runs/${runId}`, { reason: "cancelled from the UI" });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal((r.body.data as { cancel_reason: string }).cancel_reason, "cancelled from the UI");
    } finally {
      sub.unsubscribe();
    }
  });

  it("POST /v1/cancellations refuses a bad body with 400 naming the field", async () => {
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      [{}, /^function_id: /],
      [{ function_id: "" }, /^function_id: is required$/],
      [{ function_id: "f", started_after: "yesterday" }, /^started_after: must be an RFC 3339 time$/],
      [{ function_id: "f", if: "event.data.x ==" }, /^if: invalid expression/],
      [{ function_id: "f", extra: 1 }, /^\(body\): /],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("POST", "/v1/cancellations", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
  });

  it("POST /v1/cancellations cancels the function's running runs in the time range that match `if`", async () => {
    const t = Date.parse("2026-01-01T00:00:00Z");
    const runs: [string, string, number, string][] = [
      ["01JBULKA", "bulk-fn", t + 1000, "vip"],
      ["01JBULKB", "bulk-fn", t + 2000, "basic"],
      ["01JBULKC", "bulk-fn", t - 1000, "vip"], // started before the range
      ["01JBULKD", "bulk-other", t + 1000, "vip"], // another function
    ];
    for (const [runId, fnId, createdAt, plan] of runs) {
      await gw.writeRun([
        {
          ...scheduled(runId, fnId, { event: storedEvent(`${runId}-e`, "bulk/x", { plan }) }),
          ts: createdAt,
        },
      ]);
      await markActive(runId, fnId, createdAt);
    }
    const ended = "01JBULKENDED";
    await gw.writeRun([scheduled(ended, "bulk-fn"), ...then({ type: "run.completed", output: null })]);
    await markActive(ended, "bulk-fn", t + 1000);
    const inbox = inboxCommands(gw.nats, 0);
    try {
      const r = await gw.send("POST", "/v1/cancellations", {
        function_id: "bulk-fn",
        started_after: "2026-01-01T00:00:00Z",
        if: "event.data.plan == 'vip'",
      });
      assert.equal(r.status, 200);
      const data = r.body.data as { id: string; function_id: string; cancelled: number };
      assert.equal(data.function_id, "bulk-fn");
      assert.equal(data.cancelled, 1);
      await waitFor(() => inbox.commands.length >= 1, { timeoutMs: 5000, message: "the cancel command" });
      assert.deepEqual(inbox.commands, [
        { type: "cancel", runId: "01JBULKA", reason: `cancelled by bulk cancellation ${data.id}` },
      ]);
    } finally {
      inbox.stop();
    }
  });

  it("POST /v1/cancellations cancels a run once when ACTIVE holds both its markers", async () => {
    // Both its due (p<n>.) and parked (q<n>.) markers exist while the owner moves a run from one
    // to the other, or after a crash between the two writes.
    const runId = "01JBULKTWICE";
    await gw.writeRun([scheduled(runId, "twice-fn")]);
    await markActive(runId, "twice-fn", 1000);
    await markActive(runId, "twice-fn", 1000, true);
    const inbox = inboxCommands(gw.nats, 0);
    try {
      const r = await gw.send("POST", "/v1/cancellations", { function_id: "twice-fn" });
      assert.equal(r.status, 200);
      assert.equal((r.body.data as { cancelled: number }).cancelled, 1);
      await gw.nats.nc.flush(); // the gateway publishes on this connection: its commands are in
      assert.equal(inbox.commands.length, 1, JSON.stringify(inbox.commands));
    } finally {
      inbox.stop();
    }
  });
});
