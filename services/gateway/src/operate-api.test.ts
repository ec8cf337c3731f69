/**
 * Operating on runs and functions (`POST /v1/runs/:id/rerun`, `/v1/functions/:id/invoke`,
 * `/v1/runs/:id/metadata`) through `app.inject()` on a gateway over a private nats-server. Runs
 * are written straight into their logs; what the routes send is read off the inbox and EVENTS.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InternalEvents, runIdFor, Streams, Subjects } from "@jetstep/core";
import { readRunMetadata } from "@jetstep/jetstream";
import { waitFor } from "../../../test/support/index.ts";
import {
  inboxCommands,
  scheduled,
  startTestGateway,
  storedEvent,
  type TestGateway,
  then,
} from "./test-support.ts";

const FN = "op-charge";

describe("operating on runs and functions", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
    const step = {
      id: "step",
      name: "step",
      runtime: { type: "http", url: `http://app.test/api?fnId=${FN}` },
      retries: { attempts: 2 },
    };
    const registered = await gw.send("POST", "/fn/register", {
      url: "http://app.test/api",
      appName: "op-shop",
      functions: [{ id: FN, triggers: [{ event: "op/x" }], steps: { step } }],
    });
    assert.equal(registered.status, 200, registered.body.error);
  });
  after(() => gw?.stop());

  /** A completed run of FN on partition 2: steps "reserve", then "charge". */
  const completedRun = async (runId: string) => {
    await gw.writeRun([
      scheduled(runId, FN, { partition: 2, event: storedEvent(`${runId}-e`, "op/x", { order: 7 }) }),
      ...then(
        {
          type: "step.completed",
          stepId: "h1",
          name: "reserve",
          data: { held: true },
          attempt: 0,
          startedAt: 1,
        },
        { type: "step.completed", stepId: "h2", name: "charge", data: 42, attempt: 0, startedAt: 2 },
        { type: "run.completed", output: "done" },
      ),
    ]);
  };

  it("rerun answers 404 for an unknown run and 400 naming the field of a bad body", async () => {
    for (const id of ["01JNOSUCHRUN", "a.b"]) {
      const r = await gw.send("POST", `/v1/runs/${id}/rerun`, {});
      assert.deepEqual([r.status, r.body.error], [404, `run ${id} not found`]);
    }
    await completedRun("01JRERUNBAD");
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      ["5", /^\(body\): /],
      [{ fromStep: "" }, /^fromStep: /],
      [{ output: 1 }, /^output: output needs fromStep$/],
      [{ fromStep: "charge", extra: 1 }, /^\(body\): /],
      [{ fromStep: "refund" }, /^fromStep: run 01JRERUNBAD has no finished step "refund"$/],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("POST", "/v1/runs/01JRERUNBAD/rerun", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
  });

  it("rerun starts a new run of the same event on the run's partition", async () => {
    await completedRun("01JRERUNALL");
    const inbox = inboxCommands(gw.nats, 2);
    try {
      const r = await gw.send("POST", "/v1/runs/01JRERUNALL/rerun");
      assert.equal(r.status, 200);
      const data = r.body.data as { run_id: string; rerun_of: string; seeded_steps: string[] };
      assert.equal(data.rerun_of, "01JRERUNALL");
      assert.deepEqual(data.seeded_steps, []);
      await waitFor(() => inbox.commands.length === 1, { timeoutMs: 5000, message: "the start command" });
      assert.deepEqual(inbox.commands[0], {
        type: "start",
        runId: data.run_id,
        fnId: FN,
        appId: "shop",
        url: `http://app.test/api?fnId=${FN}`,
        maxAttempts: 3,
        event: storedEvent("01JRERUNALL-e", "op/x", { order: 7 }),
        events: [storedEvent("01JRERUNALL-e", "op/x", { order: 7 })],
        rerunOf: "01JRERUNALL",
      });
      // The original lists its rerun (not among its metadata).
      const original = (await gw.send("GET", "/v1/runs/01JRERUNALL")).body.data as {
        reruns: { run_id: string }[];
        metadata: { run: Record<string, unknown> } | null;
      };
      assert.deepEqual(
        original.reruns.map((x) => x.run_id),
        [data.run_id],
      );
      assert.deepEqual(original.metadata?.run, {});
    } finally {
      inbox.stop();
    }
  });

  it("rerun from a step seeds the steps before it, and the output given for that step", async () => {
    await completedRun("01JRERUNFROM");
    const inbox = inboxCommands(gw.nats, 2);
    try {
      const r = await gw.send("POST", "/v1/runs/01JRERUNFROM/rerun", { fromStep: "charge", output: 99 });
      assert.equal(r.status, 200, r.body.error);
      assert.deepEqual((r.body.data as { seeded_steps: string[] }).seeded_steps, ["reserve", "charge"]);
      await waitFor(() => inbox.commands.length === 1, { timeoutMs: 5000, message: "the start command" });
      assert.deepEqual((inbox.commands[0] as { seed: unknown }).seed, [
        { stepId: "h1", name: "reserve", data: { held: true } },
        { stepId: "h2", name: "charge", data: 99 },
      ]);
    } finally {
      inbox.stop();
    }
  });

  it("invoke answers 404 for an unknown function and 400 naming the field", async () => {
    const unknown = await gw.send("POST", "/v1/functions/no-such-fn/invoke", {});
    assert.deepEqual([unknown.status, unknown.body.error], [404, "function no-such-fn not found"]);
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      [{ data: [] }, /^data: /],
      [{ data: {}, name: "x" }, /^\(body\): /],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("POST", `/v1/functions/${FN}/invoke`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
    const big = await gw.send("POST", `/v1/functions/${FN}/invoke`, { data: { s: "x".repeat(600 * 1024) } });
    assert.equal(big.status, 413);
    assert.match(big.body.error ?? "", /^data: the invoke event is \d+ bytes; at most 524288 per event$/);
  });

  it("invoke stores an invoke event for the function and answers its id and the run's", async () => {
    const r = await gw.send("POST", `/v1/functions/${FN}/invoke`, { data: { n: 1 } });
    assert.equal(r.status, 200);
    const { event_id, run_id } = r.body.data as { event_id: string; run_id: string };
    const m = await gw.nats.jsm.streams.getMessage(Streams.events, {
      last_by_subj: Subjects.event(InternalEvents.functionInvoked),
    });
    assert.ok(m);
    const event = m.json<{ id: string; name: string; data: unknown; ts: number }>();
    assert.equal(event.id, event_id);
    assert.deepEqual(event.data, { n: 1, _inngest: { fn_id: FN } });
    assert.equal(run_id, runIdFor(event_id, FN, event.ts));
  });

  it("metadata: 404 for an unknown run, 400 naming the field, and stored for a run", async () => {
    const update = { kind: "score", op: "set", values: { quality: 0.9 } };
    const unknown = await gw.send("POST", "/v1/runs/01JNOSUCHRUN/metadata", {
      target: { run_id: "01JNOSUCHRUN" },
      metadata: [update],
    });
    assert.deepEqual([unknown.status, unknown.body.error], [404, "run 01JNOSUCHRUN not found"]);
    await completedRun("01JMETA");
    const cases: [unknown, RegExp][] = [
      [
        { target: { run_id: "01JOTHER" }, metadata: [update] },
        /^target\.run_id: 01JOTHER is not the run in the path \(01JMETA\)$/,
      ],
      [{ target: { run_id: "01JMETA" }, metadata: [] }, /^metadata: must hold at least one update$/],
      [
        { target: { run_id: "01JMETA" }, metadata: [{ ...update, op: "add" }] },
        /^metadata\.0\.op: must be "set" or "merge"$/,
      ],
      [{ metadata: [update] }, /^target: /],
      [
        { target: { run_id: "01JMETA" }, metadata: [{ ...update, kind: "jetstep.reruns" }] },
        /^metadata\.0\.kind: must not start with "jetstep\." \(reserved\)$/,
      ],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("POST", "/v1/runs/01JMETA/metadata", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
    const ok = await gw.send("POST", "/v1/runs/01JMETA/metadata", {
      target: { run_id: "01JMETA" },
      metadata: [update],
    });
    assert.deepEqual(ok, { status: 200, body: { data: { run_id: "01JMETA", updated: 1 } } });
    assert.ok(await readRunMetadata(gw.buckets.metadata, "01JMETA"), "stored");
  });
});
