/**
 * Reading runs and events (`GET /v1/runs`, `/v1/runs/:id`, `/v1/events`, `/v1/events/:id`,
 * `/v1/events/:id/runs`) through `app.inject()` on a gateway over a private nats-server. Runs are
 * written straight into their logs and RUN_INDEX, as the executor writes them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { invokedRunId, Keys, type RunIndexRecord, type RunLogEntry, Subjects } from "@jetstep/core";
import { scheduled, startTestGateway, storedEvent, type TestGateway, then } from "./test-support.ts";

interface ApiRun {
  run_id: string;
  function_id: string;
  status: string;
  output?: unknown;
  stuck?: { reason: string; since: string | null };
  steps?: { id: string; name: string; status: string; output: unknown }[];
}

describe("reading runs and events", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw?.stop());

  const index = async (record: RunIndexRecord) => {
    await gw.nats.js.publish(Subjects.runIndex(record.runId), JSON.stringify(record));
  };
  const record = (runId: string, fnId: string, status: string, startedAt: number): RunIndexRecord => ({
    runId,
    fnId,
    appId: "shop",
    status,
    eventId: `${runId}-e`,
    eventName: "list/x",
    startedAt,
  });

  it("GET /v1/runs/:id/trace draws the run's spans from its log, with a link where one is configured", async () => {
    await gw.writeRun([
      scheduled("01TRACEAPI0000000000000001", "trace-fn"),
      ...then(
        {
          type: "step.errored",
          stepId: "s1",
          name: "charge",
          error: { name: "Error", message: "declined" },
          attempt: 0,
          startedAt: 1_700_000_000_100,
          retryAt: 1_700_000_000_400,
          timerId: "t1",
        },
        {
          type: "step.completed",
          stepId: "s1",
          name: "charge",
          data: 1,
          attempt: 1,
          startedAt: 1_700_000_000_400,
        },
        { type: "run.completed", output: "done" },
      ),
    ]);
    const r = await gw.send("GET", "/v1/runs/01TRACEAPI0000000000000001/trace");
    assert.equal(r.status, 200, r.body.error);
    const data = r.body.data as {
      trace_id: string;
      url: string | null;
      spans: { name: string; status: string; attempt: number | null; error: { message: string } | null }[];
    };
    assert.match(data.trace_id, /^[0-9a-f]{32}$/);
    assert.equal(data.url, null);
    assert.deepEqual(
      data.spans.map((s) => [s.name, s.status, s.attempt]),
      [
        ["run trace-fn", "ok", null],
        ["step charge", "error", 1],
        ["step charge", "ok", 2],
      ],
    );
    assert.equal(data.spans[1]?.error?.message, "declined");
    assert.equal((await gw.send("GET", "/v1/runs/01NOSUCHRUN/trace")).status, 404);
    assert.equal((await gw.send("GET", "/v1/runs/a.b/trace")).status, 404);

    const linked = await startTestGateway({ traceUrl: "http://jaeger.test/trace/{traceId}" });
    try {
      await linked.writeRun([scheduled("01TRACEAPI0000000000000002", "trace-fn")]);
      const l = await linked.send("GET", "/v1/runs/01TRACEAPI0000000000000002/trace");
      const d = l.body.data as { trace_id: string; url: string };
      assert.equal(d.url, `http://jaeger.test/trace/${d.trace_id}`);
    } finally {
      await linked.stop();
    }
  });

  it("GET /v1/runs/:id answers 404 for an unknown run or an id no run can have", async () => {
    for (const id of ["01JNOSUCHRUN", "a.b", "x%20y"]) {
      const r = await gw.send("GET", `/v1/runs/${id}`);
      assert.equal(r.status, 404, id);
      assert.match(r.body.error ?? "", /^run .+ not found$/);
    }
  });

  it("a path that is not valid percent-encoding is a 400, a parameter over 768 characters a 414", async () => {
    const bad = await gw.send("GET", "/v1/runs/%E0%A4%A");
    assert.deepEqual(bad.body, { status: 400, error: "path: not a valid percent-encoded URL path" });
    const long = await gw.send("GET", `/v1/events/${"x".repeat(800)}`);
    assert.deepEqual(long.body, { status: 414, error: "path: a parameter is longer than 768 characters" });
    assert.deepEqual([bad.status, long.status], [400, 414]);
  });

  it("GET /v1/runs/:id answers a run with its status, steps and output", async () => {
    await gw.writeRun([
      scheduled("01JREADDONE", "read-fn"),
      ...then(
        { type: "step.completed", stepId: "h1", name: "fetch", data: [1, 2], attempt: 0, startedAt: 1 },
        { type: "run.completed", output: { total: 3 } },
      ),
    ]);
    await gw.writeRun([scheduled("01JREADRUNNING", "read-fn")]);
    const done = await gw.send("GET", "/v1/runs/01JREADDONE");
    assert.equal(done.status, 200);
    const run = done.body.data as ApiRun;
    assert.deepEqual(
      { id: run.run_id, fn: run.function_id, status: run.status, output: run.output },
      { id: "01JREADDONE", fn: "read-fn", status: "Completed", output: { total: 3 } },
    );
    assert.deepEqual(
      run.steps?.map((s) => [s.id, s.name, s.status, s.output]),
      [["h1", "fetch", "completed", [1, 2]]],
    );
    const running = await gw.send("GET", "/v1/runs/01JREADRUNNING");
    assert.equal((running.body.data as ApiRun).status, "Running");
  });

  it("GET /v1/runs/:id links an invoke under way to its child run, and the child back to its parent", async () => {
    await gw.writeRun([
      scheduled("01JREADPARENT", "shop-order"),
      ...then({
        type: "wait.started",
        stepId: "inv1",
        name: "charge",
        event: "inngest/function.finished",
        afterSeq: 0,
        invoke: { functionId: "billing-charge", data: { amount: 5 }, correlationId: "corr-1" },
      }),
    ]);
    const parent = (await gw.send("GET", "/v1/runs/01JREADPARENT")).body.data as ApiRun & {
      steps: { kind: string; started_at: string; outcome: unknown }[];
    };
    const step = parent.steps[0];
    assert.equal(step?.kind, "InvokeFunction");
    // The child's id as the executor derives it when it sends the invoke.
    const child = invokedRunId("corr-1", "billing-charge", Date.parse(step?.started_at ?? ""));
    assert.deepEqual(step?.outcome, { type: "running", run_id: child });
    const invoked = {
      ...storedEvent("01JREADINVOKED", "inngest/function.invoked"),
      data: { amount: 5, _inngest: { source_run_id: "01JREADPARENT", source_fn_id: "shop-order" } },
    };
    await gw.writeRun([scheduled(child, "billing-charge", { event: invoked })]);
    const view = (await gw.send("GET", `/v1/runs/${child}`)).body.data as { invoked_by?: unknown };
    assert.deepEqual(view.invoked_by, { run_id: "01JREADPARENT", function_id: "shop-order" });
    const plain = (await gw.send("GET", "/v1/runs/01JREADPARENT")).body.data as { invoked_by?: unknown };
    assert.equal(plain.invoked_by, undefined);
  });

  it("GET /v1/runs/:id shows a run the executor listed as stuck, and one whose log cannot be replayed", async () => {
    const since = Date.parse("2026-01-01T00:00:00Z");
    await gw.writeRun([scheduled("01JREADSTUCK", "read-fn")]);
    await index({
      ...record("01JREADSTUCK", "read-fn", "Stuck", 1),
      stuck: { reason: "the app answers 500", since },
    });
    const stuck = (await gw.send("GET", "/v1/runs/01JREADSTUCK")).body.data as ApiRun;
    assert.equal(stuck.status, "Stuck");
    assert.deepEqual(stuck.stuck, { reason: "the app answers 500", since: "2026-01-01T00:00:00.000Z" });
    // A log whose second entry skips a number: the run cannot be replayed.
    const broken = "01JREADBROKEN";
    const gap: RunLogEntry = { n: 5, ts: 2, type: "run.completed", output: 1 };
    await gw.writeRun([scheduled(broken, "read-fn"), gap]);
    await index(record(broken, "read-fn", "Running", 1));
    const r = await gw.send("GET", `/v1/runs/${broken}`);
    assert.equal(r.status, 200);
    const view = r.body.data as ApiRun;
    assert.equal(view.status, "Stuck");
    assert.match(view.stuck?.reason ?? "", /^run log entry \d+: /);
  });

  it("GET /v1/runs lists runs newest first, filtered, a page at a time", async () => {
    await index(record("01JLISTA", "list-fn", "Completed", 1000));
    await index(record("01JLISTB", "list-fn", "Failed", 2000));
    await index(record("01JLISTC", "list-other", "Completed", 3000));
    await index(record("01JLISTD", "list-fn", "Running", 4000));
    const ids = async (query: string) =>
      ((await gw.send("GET", `/v1/runs?${query}`)).body.data as ApiRun[]).map((r) => r.run_id);
    assert.deepEqual(await ids("function_id=list-fn"), ["01JLISTD", "01JLISTB", "01JLISTA"]);
    assert.deepEqual(await ids("function_id=list-fn&status=Completed,Failed"), ["01JLISTB", "01JLISTA"]);
    assert.deepEqual(await ids("function_id=list-fn&from=1500&to=3500"), ["01JLISTB"]);
    assert.deepEqual(await ids("status=Completed&event_name=list/x&function_id=list-other"), ["01JLISTC"]);
    const first = await gw.send("GET", "/v1/runs?function_id=list-fn&limit=2");
    assert.deepEqual(
      (first.body.data as ApiRun[]).map((r) => r.run_id),
      ["01JLISTD", "01JLISTB"],
    );
    assert.equal(typeof first.body.cursor, "string");
    assert.deepEqual(await ids(`function_id=list-fn&limit=2&cursor=${first.body.cursor}`), ["01JLISTA"]);
  });

  it("GET /v1/runs, /v1/events and /v1/dead-letters refuse a bad query with 400 naming the parameter", async () => {
    const cases: [string, RegExp][] = [
      ["/v1/runs?limit=abc", /^limit: /],
      ["/v1/runs?limit=500", /^limit: /],
      ["/v1/runs?status=Sleeping", /^status\.0: must be Running, Stuck, Completed, Failed or Cancelled$/],
      ["/v1/runs?status=Running&status=Failed", /^status: /],
      ["/v1/runs?from=yesterday", /^from: /],
      ["/v1/runs?cursor=0", /^cursor: /],
      ["/v1/events?cursor=-1", /^cursor: /],
      ["/v1/events?include_internal=yes", /^include_internal: /],
      ["/v1/dead-letters?source=app", /^source: must be ingest, matcher or executor$/],
    ];
    for (const [url, re] of cases) {
      const r = await gw.send("GET", url);
      assert.equal(r.status, 400, url);
      assert.match(r.body.error ?? "", re, url);
    }
  });

  it("GET /v1/events lists events newest first, without Jetstep's own unless asked", async () => {
    const sent = await gw.send("POST", "/e/k", [{ name: "list/ev" }, { name: "list/ev" }]);
    const [a, b] = sent.body.ids as string[];
    const ids = async (query: string) =>
      ((await gw.send("GET", `/v1/events?${query}`)).body.data as { id: string }[]).map((e) => e.id);
    assert.deepEqual(await ids("name=list/ev"), [b, a]);
    // Jetstep's own events (`inngest/…`) are listed when asked for, by name or all.
    const internal = { id: "ev-internal-1", name: "inngest/function.finished", data: {}, ts: 1 };
    await gw.nats.js.publish(Subjects.event(internal.name), JSON.stringify(internal));
    assert.ok(!(await ids("")).includes(internal.id));
    assert.equal((await ids("include_internal=true"))[0], internal.id);
    assert.deepEqual(await ids("name=inngest/function.finished"), [internal.id]);
  });

  it("GET /v1/events/:id and /:id/runs: the event and the runs it started; 404 until it is processed", async () => {
    const event = storedEvent("ev-read-1", "list/ev");
    const sent = await gw.send("POST", "/e/k", event);
    assert.deepEqual(sent.body.ids, ["ev-read-1"]);
    for (const url of ["/v1/events/ev-read-1", "/v1/events/ev-read-1/runs", "/v1/events/a%0Ab/runs"]) {
      const r = await gw.send("GET", url);
      assert.equal(r.status, 404, url);
      assert.match(r.body.error ?? "", /^event .+ not found/s);
    }
    // As the matcher records it: the runs it started (one not begun yet), and its EVENTS sequence.
    const info = await gw.nats.jsm.streams.getMessage("EVENTS", { last_by_subj: Subjects.event("list/ev") });
    assert.ok(info);
    await gw.writeRun([scheduled("01JEVRUNA", "ev-fn", { event })]);
    await gw.buckets.eventRuns.put(
      Keys.eventRuns("ev-read-1"),
      JSON.stringify({
        eventId: "ev-read-1",
        name: "list/ev",
        seq: info.seq,
        runs: [
          { runId: "01JEVRUNA", fnId: "ev-fn" },
          { runId: "01JEVRUNQUEUED", fnId: "ev-other" },
        ],
        skipped: [{ fnId: "ev-dup", reason: "idempotency" }],
      }),
    );
    const runs = await gw.send("GET", "/v1/events/ev-read-1/runs");
    assert.equal(runs.status, 200);
    const listed = runs.body.data as (ApiRun & { phase: string })[];
    assert.deepEqual(
      listed.map((r) => [r.run_id, r.function_id, r.status]),
      [
        ["01JEVRUNA", "ev-fn", "Running"],
        ["01JEVRUNQUEUED", "ev-other", "Running"],
      ],
    );
    assert.equal(listed[1]?.phase, "queued", "a run not begun yet");
    // The same shape as a begun run's (a client reading steps of every listed run must not break).
    assert.deepEqual([listed[1]?.steps, (listed[1] as { error?: unknown } | undefined)?.error], [[], null]);
    assert.deepEqual(runs.body.skipped, [{ fnId: "ev-dup", reason: "idempotency" }]);
    const stored = await gw.send("GET", "/v1/events/ev-read-1");
    assert.equal(stored.status, 200);
    assert.deepEqual(stored.body.data, { ...event, internal_id: "ev-read-1" });
  });
});
