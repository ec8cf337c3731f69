/**
 * `POST /v1/checkpoint/:runId/async` through `app.inject()`, with fakes of what it uses: the
 * LEASES bucket (the partition count), an executor in this process (`local`) and the NATS request
 * to the partition's owner. What the owner decides (a stale dispatch, an ended run) is the
 * executor's; here, that the route checks the body, routes by the dispatch id, and answers the
 * owner's status and message.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CheckpointReply, type CheckpointRequest, hashSigningKey, Subjects } from "@jetstep/core";
import { type CheckpointRouteDeps, registerCheckpointRoutes } from "./checkpoint-api.ts";
import { bodyOf, fakeLeases, fakeNats, stringBodyApp } from "./test-support.ts";

const RUN = "01JCHECKPOINTRUN0000000001";
const QI = "3-abcdef0123456789";
const step = { id: "s1", op: "StepRun", name: "s1", data: 1 };

interface Setup {
  partitions?: number | undefined;
  /** What the executor in this process answers; undefined: it does not own the partition. */
  local?: (p: number, req: CheckpointRequest) => CheckpointReply | undefined;
  /** What the partition's owner answers over NATS (a throw: nobody answers). */
  remote?: (subject: string, payload: unknown) => unknown;
  maxPayload?: number;
  signingKey?: string;
  /** The gateway's monotonic clock (the owner's reply is timed by it). */
  clock?: () => number;
}

async function checkpointApp(setup: Setup = {}) {
  const { nats, sent } = fakeNats(setup.remote, setup.maxPayload);
  const delivered: { partition: number; request: CheckpointRequest }[] = [];
  const deps: CheckpointRouteDeps = {
    nats,
    leases: fakeLeases("partitions" in setup ? setup.partitions : 16),
    local: (partition, request) => {
      delivered.push({ partition, request });
      const reply = setup.local?.(partition, request);
      return reply ? Promise.resolve(reply) : undefined;
    },
    ...(setup.signingKey ? { signingKey: setup.signingKey } : {}),
    ...(setup.clock ? { clock: setup.clock } : {}),
  };
  const app = stringBodyApp();
  registerCheckpointRoutes(app, deps);
  await app.ready();
  const post = async (body: unknown, runId = RUN, headers: Record<string, string> = {}) => {
    const res = await app.inject({
      method: "POST",
      url: `/v1/checkpoint/${runId}/async`,
      headers,
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.statusCode, body: bodyOf(res) };
  };
  return { app, post, delivered, sent };
}

describe("POST /v1/checkpoint/:runId/async", () => {
  it("refuses a malformed report with 400 naming the field, and delivers nothing", async () => {
    const { app, post, delivered } = await checkpointApp({ local: () => ({ status: 200 }) });
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      ["[]", /^body: /],
      [{ run_id: RUN, steps: [] }, /^qi_id: /],
      [{ run_id: RUN, qi_id: QI }, /^steps: /],
      [{ run_id: RUN, qi_id: QI, steps: [{ op: "StepRun" }] }, /^steps\.0\.id: /],
      [
        { run_id: "01OTHERRUN", qi_id: QI, steps: [] },
        /^run_id: 01OTHERRUN is not the run in the path \(01JCHECKPOINTRUN0000000001\)$/,
      ],
      [{ run_id: RUN, qi_id: "not-a-dispatch", steps: [] }, /^invalid qi_id "not-a-dispatch"/],
      [{ run_id: RUN, qi_id: "70000-abcdef0123456789", steps: [] }, /^invalid qi_id /],
      [
        { run_id: RUN, qi_id: "700-abcdef0123456789", steps: [] },
        /^qi_id: names partition 700; there are 16$/,
      ],
    ];
    for (const [body, re] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.status, 400);
      assert.match(r.body.error ?? "", re, JSON.stringify(body));
    }
    const badRun = await post({ run_id: "a.b", qi_id: QI, steps: [] }, "a.b");
    assert.equal(badRun.status, 400);
    assert.match(badRun.body.error ?? "", /^invalid runId "a\.b"/);
    assert.deepEqual(delivered, []);
    await app.close();
  });

  it("hands the steps to the owner of the partition the dispatch id names, and answers 200 {}", async () => {
    const { app, post, delivered } = await checkpointApp({ local: () => ({ status: 200 }) });
    const r = await post({ run_id: RUN, fn_id: "shop-charge", qi_id: QI, steps: [step] });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {});
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]?.partition, 3);
    assert.deepEqual(delivered[0]?.request, { runId: RUN, dispatchId: QI, steps: [step] });
    await app.close();
  });

  it("answers the owner's refusal as it is: 409 for a stale dispatch, 400 for a step it may not carry", async () => {
    const answers: CheckpointReply[] = [
      { status: 409, message: "stale dispatch: the call was replaced or already answered" },
      { status: 409, message: `run ${RUN} has ended` },
      { status: 400, message: "steps.0: a checkpoint may not carry Sleep" },
    ];
    for (const answer of answers) {
      const { app, post } = await checkpointApp({ local: () => answer });
      const r = await post({ run_id: RUN, qi_id: QI, steps: [step] });
      assert.equal(r.status, answer.status);
      assert.deepEqual(r.body, { status: answer.status, error: answer.message });
      await app.close();
    }
  });

  it("without an executor here, asks the partition's owner over NATS; nobody answering is a 503", async () => {
    const ok = await checkpointApp({ remote: () => ({ status: 200 }) });
    const r = await ok.post({ run_id: RUN, qi_id: QI, steps: [step] });
    assert.equal(r.status, 200);
    assert.deepEqual(ok.sent, [
      { subject: Subjects.checkpoint(3), payload: { runId: RUN, dispatchId: QI, steps: [step] } },
    ]);
    await ok.app.close();

    const stale = await checkpointApp({
      remote: () => ({ status: 409, message: "the dispatch is not in flight" }),
    });
    const refused = await stale.post({ run_id: RUN, qi_id: QI, steps: [step] });
    assert.deepEqual(refused, { status: 409, body: { status: 409, error: "the dispatch is not in flight" } });
    await stale.app.close();

    const nobody = await checkpointApp();
    const down = await nobody.post({ run_id: RUN, qi_id: QI, steps: [step] });
    assert.equal(down.status, 503);
    assert.match(
      down.body.error ?? "",
      /^no executor took the checkpoint of partition 3: 503 no responders$/,
    );
    await nobody.app.close();

    const garbled = await checkpointApp({ remote: () => ({ status: "fine" }) });
    const unreadable = await garbled.post({ run_id: RUN, qi_id: QI, steps: [step] });
    assert.deepEqual(unreadable, {
      status: 503,
      body: { status: 503, error: "unreadable answer from the executor" },
    });
    await garbled.app.close();
  });

  it("answers a 200 that came back after the owner's lease ran out as a 409: the app must not run its next step", async () => {
    let now = 10_000;
    const clock = () => now;
    // The owner made its reply, then was paused (or its answer was held up) for 900 ms.
    const late = (validForMs: number) => () => {
      now += 900;
      return { status: 200 as const, validForMs };
    };
    for (const where of ["local", "remote"] as const) {
      const inTime = await checkpointApp({ clock, [where]: late(901) });
      const r = await inTime.post({ run_id: RUN, qi_id: QI, steps: [step] });
      assert.deepEqual(r, { status: 200, body: {} }, where);
      await inTime.app.close();

      const tooLate = await checkpointApp({ clock, [where]: late(900) });
      const refused = await tooLate.post({ run_id: RUN, qi_id: QI, steps: [step] });
      assert.equal(refused.status, 409, where);
      assert.equal(
        refused.body.error,
        "the checkpoint's reply came 900 ms after it was sent, past the 900 ms the executor's lease was valid for; the step is recorded",
      );
      await tooLate.app.close();
    }
  });

  it("refuses with 413 steps too large for one NATS message to the owner", async () => {
    const { app, post, sent } = await checkpointApp({ remote: () => ({ status: 200 }), maxPayload: 4096 });
    const big = { ...step, data: "x".repeat(8000) };
    const r = await post({ run_id: RUN, qi_id: QI, steps: [big] });
    assert.equal(r.status, 413);
    assert.match(
      r.body.error ?? "",
      /^steps: \d+ bytes to forward to the run's executor; at most \d+ \(one NATS message\)$/,
    );
    assert.deepEqual(sent, [], "nothing was sent");
    await app.close();
  });

  it("before any executor set the partition count, routes by the dispatch id alone", async () => {
    const { app, post, delivered } = await checkpointApp({
      partitions: undefined,
      local: () => ({ status: 200 }),
    });
    const r = await post({ run_id: RUN, qi_id: "700-abcdef0123456789", steps: [] });
    assert.equal(r.status, 200);
    assert.equal(delivered[0]?.partition, 700);
    await app.close();
  });

  it("with a signing key, refuses a report without its hash as Bearer (401) before reading it", async () => {
    const signingKey = "signkey-prod-0123456789abcdef";
    const { app, post, delivered } = await checkpointApp({ signingKey, local: () => ({ status: 200 }) });
    const body = { run_id: RUN, qi_id: QI, steps: [step] };
    const wrong: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${signingKey}` },
      { authorization: "Bearer nope" },
    ];
    for (const headers of wrong) {
      const r = await post("{not even JSON", RUN, headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.body.error, "authorization: a Bearer of the hashed signing key is required");
    }
    const signed = await post(body, RUN, { authorization: `Bearer ${hashSigningKey(signingKey)}` });
    assert.equal(signed.status, 200);
    assert.equal(delivered.length, 1);
    await app.close();
  });
});
