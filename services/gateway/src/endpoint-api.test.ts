/**
 * Durable endpoints' routes through `app.inject()`: the reports (`POST /v1/checkpoint`, `…/steps`),
 * what a resumed endpoint reads (`/v0/runs/:runId/actions`, `/batch`) and the output URL. Fakes
 * stand for NATS: the partition count, an executor in this process answering as the real one does
 * (404 unknown run, 409 another function's run), and run logs held in memory.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  appUrlPolicy,
  type CheckpointReply,
  type CheckpointRequest,
  hashSigningKey,
  partitionOf,
} from "@jetstep/core";
import { type EndpointRouteDeps, outputToken, registerEndpointRoutes, streamToken } from "./endpoint-api.ts";
import {
  bodyOf,
  fakeLeases,
  fakeNats,
  MemoryRunLog,
  noSnapshots,
  scheduled,
  storedEvent,
  stringBodyApp,
  then,
} from "./test-support.ts";

const RUN = "01JENDPOINTRUN000000000001";
const SIGNING_KEY = "signkey-prod-0123456789abcdef";

/** A first report as the official SDK sends it. */
const newRun = (data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  run_id: RUN,
  event: {
    name: "inngest/http.request",
    data: { domain: "http://shop.test:3000", method: "POST", path: "/api/checkout", ...data },
  },
  steps: [{ id: "s1", op: "StepRun", name: "charge", data: { ok: true } }],
  ...extra,
});

interface Setup {
  partitions?: number | undefined;
  /** The executor here: its answer to a report (default 200). */
  answer?: (req: CheckpointRequest) => CheckpointReply;
  allowAppUrls?: string[];
  signingKey?: string;
  outputWaitMs?: number;
}

async function endpointApp(setup: Setup = {}) {
  const runLog = new MemoryRunLog();
  const delivered: { partition: number; request: CheckpointRequest }[] = [];
  const deps: EndpointRouteDeps = {
    nats: fakeNats().nats,
    leases: fakeLeases("partitions" in setup ? setup.partitions : 16),
    local: (partition, request) => {
      delivered.push({ partition, request });
      return Promise.resolve(setup.answer?.(request) ?? { status: 200 });
    },
    runLog: runLog.asRunLog(),
    snapshots: noSnapshots(),
    appUrls: appUrlPolicy(setup.allowAppUrls),
    now: Date.now,
    outputWaitMs: setup.outputWaitMs ?? 0,
    outputPollMs: 1,
    ...(setup.signingKey ? { signingKey: setup.signingKey } : {}),
  };
  const app = stringBodyApp();
  registerEndpointRoutes(app, deps);
  await app.ready();
  const send = async (method: "GET" | "POST", url: string, body?: unknown) => {
    const res = await app.inject({
      method,
      url,
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: bodyOf(res), headers: res.headers };
  };
  return { app, send, delivered, runLog };
}

describe("POST /v1/checkpoint (a durable endpoint's first report)", () => {
  it("creates the run with the SDK's id and answers its ids and output token", async () => {
    const { app, send, delivered } = await endpointApp({ signingKey: SIGNING_KEY });
    // The SDK signs its reports; the route checks that before the body (see checkpoint-api.test.ts).
    const res = await app.inject({
      method: "POST",
      url: "/v1/checkpoint",
      headers: { authorization: `Bearer ${hashSigningKey(SIGNING_KEY)}` },
      body: JSON.stringify(newRun({ query_params: "a=1" }, { retries: 2 })),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      data: {
        fn_id: "shop-test-3000-post-api-checkout",
        app_id: "shop-test-3000",
        run_id: RUN,
        token: outputToken(RUN, SIGNING_KEY),
        realtime_token: streamToken(RUN, SIGNING_KEY),
      },
    });
    const [first] = delivered;
    assert.equal(first?.partition, partitionOf(RUN, 16));
    const request = first?.request as Extract<CheckpointRequest, { endpoint: true }>;
    assert.equal(request.start?.url, "http://shop.test:3000/api/checkout?a=1");
    assert.equal(request.start?.maxAttempts, 3);
    assert.equal(request.start?.fnId, "shop-test-3000-post-api-checkout");
    assert.deepEqual(request.steps, newRun().steps);
    const unsigned = await send("POST", "/v1/checkpoint", newRun());
    assert.equal(unsigned.status, 401);
    await app.close();
  });

  it("names the function by event.data.fn when the SDK gives one", async () => {
    const { app, send } = await endpointApp();
    const r = await send("POST", "/v1/checkpoint", newRun({ fn: "Checkout Flow" }));
    assert.equal((r.body.data as { fn_id: string }).fn_id, "shop-test-3000-checkout-flow");
    await app.close();
  });

  it("refuses a malformed report with 400 naming the field, and creates nothing", async () => {
    const { app, send, delivered } = await endpointApp({ allowAppUrls: ["http://shop.test:3000/api/*"] });
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      [{ run_id: RUN, steps: [] }, /^event: /],
      [newRun({ domain: "nope" }), /^event\.data\.domain: nope is not a URL$/],
      [newRun({ domain: "ftp://shop.test" }), /^event\.data\.domain: must be an http\(s\) URL$/],
      [newRun({ method: "BREW" }), /^event\.data\.method: /],
      [newRun({ path: "api" }), /^event\.data\.path: /],
      [newRun({}, { retries: 21 }), /^retries: /],
      [newRun({}, { run_id: "a.b" }), /^run_id: may hold only letters, digits, _ and -$/],
      [newRun({ domain: "http://elsewhere.test" }), /^event\.data\.domain: /],
      [newRun({ path: "/admin" }), /^event\.data\.domain: /],
    ];
    for (const [body, re] of cases) {
      const r = await send("POST", "/v1/checkpoint", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re, JSON.stringify(body));
    }
    assert.deepEqual(delivered, []);
    await app.close();
  });

  it("answers 503 before any executor started (the partition is not known)", async () => {
    const { app, send, delivered } = await endpointApp({ partitions: undefined });
    const r = await send("POST", "/v1/checkpoint", newRun());
    assert.deepEqual(r.body, { status: 503, error: "no executor has started yet (partition count unknown)" });
    assert.equal(r.status, 503);
    assert.deepEqual(delivered, []);
    await app.close();
  });

  it("answers the owner's refusal: 409 when the run id is another function's run", async () => {
    const { app, send } = await endpointApp({
      answer: () => ({ status: 409, message: `run ${RUN} is another function's run` }),
    });
    const r = await send("POST", "/v1/checkpoint", newRun());
    assert.deepEqual(r, {
      status: 409,
      body: { status: 409, error: `run ${RUN} is another function's run` },
      headers: r.headers,
    });
    await app.close();
  });
});

describe("POST /v1/checkpoint/:runId/steps (later reports)", () => {
  const report = (extra: Record<string, unknown> = {}) => ({
    run_id: RUN,
    fn_id: "shop-test-3000-post-api-checkout",
    app_id: "shop-test-3000",
    steps: [{ id: "s2", op: "StepRun", data: 2 }],
    ...extra,
  });

  it("hands the report to the run's partition and answers 200 {}", async () => {
    const { app, send, delivered } = await endpointApp();
    const r = await send("POST", `/v1/checkpoint/${RUN}/steps`, report());
    assert.deepEqual([r.status, r.body], [200, {}]);
    assert.deepEqual(delivered, [
      {
        partition: partitionOf(RUN, 16),
        request: {
          runId: RUN,
          endpoint: true,
          fnId: "shop-test-3000-post-api-checkout",
          appId: "shop-test-3000",
          steps: report().steps,
        },
      },
    ]);
    await app.close();
  });

  it("refuses a malformed report (400 naming the field) and a run id no run has (404)", async () => {
    const { app, send, delivered } = await endpointApp();
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      [{ run_id: RUN, steps: [] }, /^fn_id: /],
      [report({ app_id: "" }), /^app_id: /],
      [report({ steps: [{ op: "StepRun" }] }), /^steps\.0\.id: /],
      [
        report({ run_id: "01OTHER" }),
        /^run_id: 01OTHER is not the run in the path \(01JENDPOINTRUN000000000001\)$/,
      ],
    ];
    for (const [body, re] of cases) {
      const r = await send("POST", `/v1/checkpoint/${RUN}/steps`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
    const notARun = await send("POST", "/v1/checkpoint/a.b/steps", report({ run_id: "a.b" }));
    assert.deepEqual([notARun.status, notARun.body.error], [404, "run a.b not found"]);
    assert.deepEqual(delivered, []);
    await app.close();
  });

  it("answers the owner's 404 for an unknown run and 409 for another function's run", async () => {
    const { app, send } = await endpointApp({
      answer: (req) =>
        req.runId === RUN
          ? { status: 409, message: `run ${req.runId} is another function's run` }
          : { status: 404, message: `run ${req.runId} is not a durable endpoint's run` },
    });
    const unknown = await send("POST", "/v1/checkpoint/01NOSUCHRUN/steps", report({ run_id: "01NOSUCHRUN" }));
    assert.deepEqual(unknown.body, { status: 404, error: "run 01NOSUCHRUN is not a durable endpoint's run" });
    assert.equal(unknown.status, 404);
    const other = await send("POST", `/v1/checkpoint/${RUN}/steps`, report({ fn_id: "someone-else" }));
    assert.deepEqual([other.status, other.body.error], [409, `run ${RUN} is another function's run`]);
    await app.close();
  });

  it("answers 503 before any executor started", async () => {
    const { app, send } = await endpointApp({ partitions: undefined });
    const r = await send("POST", `/v1/checkpoint/${RUN}/steps`, report());
    assert.deepEqual(
      [r.status, r.body.error],
      [503, "no executor has started yet (partition count unknown)"],
    );
    await app.close();
  });
});

describe("what a resumed endpoint reads, and the output URL", () => {
  it("/v0/runs/:runId/actions and /batch: the steps' results in the order they ended, the events; 404 unknown", async () => {
    const { app, send, runLog } = await endpointApp();
    const event = storedEvent(`${RUN}-request`, "inngest/http.request", { path: "/api/checkout" });
    const start = scheduled(RUN, "shop-checkout", { event });
    runLog.runs.set(RUN, [
      start,
      ...then(
        { type: "step.completed", stepId: "b", name: "second", data: 2, attempt: 0, startedAt: 1 },
        { type: "step.completed", stepId: "a", name: "first", data: "one", attempt: 0, startedAt: 2 },
      ),
    ]);
    const actions = await send("GET", `/v0/runs/${RUN}/actions`);
    assert.equal(actions.status, 200);
    assert.deepEqual(Object.entries(actions.body), [
      ["b", { data: 2 }],
      ["a", { data: "one" }],
    ]);
    const batch = await app.inject({ method: "GET", url: `/v0/runs/${RUN}/batch` });
    assert.deepEqual(batch.json(), [event]);
    for (const path of [
      "/v0/runs/01NOSUCHRUN/actions",
      "/v0/runs/01NOSUCHRUN/batch",
      "/v0/runs/a.b/actions",
    ]) {
      const r = await send("GET", path);
      assert.equal(r.status, 404, path);
      assert.match(r.body.error ?? "", /^run .* not found$/);
    }
    await app.close();
  });

  it("the output needs the run's token (401), and answers once the run ended: its body, 500 failed or cancelled", async () => {
    const { app, send, runLog } = await endpointApp({ signingKey: SIGNING_KEY });
    const output = (runId: string, token = outputToken(runId, SIGNING_KEY)) =>
      send("GET", `/v1/http/runs/${runId}/output?token=${encodeURIComponent(token)}`);
    const wrong = await output(RUN, outputToken(RUN, undefined));
    assert.deepEqual([wrong.status, wrong.body.error], [401, "token: not the token of this run's output"]);
    assert.equal(wrong.headers["access-control-allow-origin"], "*");
    assert.equal((await output(RUN, "")).status, 401);
    assert.equal((await output("01NOSUCHRUN")).status, 404);

    const ended = [
      [
        "01JDONE",
        { type: "run.completed", output: { status: 200, headers: {}, body: '{"sum":3}' } },
        200,
        { data: { sum: 3 } },
      ],
      [
        "01JFAIL",
        { type: "run.failed", error: { name: "Error", message: "boom" } },
        500,
        { status: 500, error: { name: "Error", message: "boom" } },
      ],
      [
        "01JGONE",
        { type: "run.cancelled", reason: "by the user" },
        500,
        { status: 500, error: { name: "Cancelled", message: "by the user" } },
      ],
    ] as const;
    for (const [runId, end, status, body] of ended) {
      runLog.runs.set(runId, [scheduled(runId, "shop-checkout"), ...then(end)]);
      const r = await output(runId);
      assert.equal(r.status, status, runId);
      assert.deepEqual(r.body, body, runId);
    }
    await app.close();
  });

  it("the output of a run still going sends the client back to the same URL (302)", async () => {
    const { app, runLog } = await endpointApp({ outputWaitMs: 0 });
    runLog.runs.set(RUN, [scheduled(RUN, "shop-checkout")]);
    const url = `/v1/http/runs/${RUN}/output?token=${outputToken(RUN, undefined)}`;
    const res = await app.inject({ method: "GET", url });
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, url);
    assert.equal(res.headers["retry-after"], "1");
    await app.close();
  });

  it("the output waits for a run that ends meanwhile", async () => {
    const { app, runLog } = await endpointApp({ outputWaitMs: 60_000 });
    runLog.runs.set(RUN, [scheduled(RUN, "shop-checkout")]);
    let reads = 0;
    const read = runLog.read.bind(runLog);
    runLog.read = async (runId, after) => {
      // The third look finds the run ended.
      if (++reads === 3)
        runLog.runs.set(RUN, [
          scheduled(RUN, "shop-checkout"),
          ...then({ type: "run.completed", output: "plain" }),
        ]);
      return read(runId, after);
    };
    const res = await app.inject({
      method: "GET",
      url: `/v1/http/runs/${RUN}/output?token=${outputToken(RUN, undefined)}`,
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { data: "plain" });
    assert.equal(reads, 3);
    await app.close();
  });
});
