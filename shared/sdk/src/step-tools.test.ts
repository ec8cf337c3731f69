import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { referenceFunction } from "./step-tools.ts";
import { callBody, drive, sha1, testClient } from "./test-helpers.ts";

describe("op emission of the other step tools (as the official SDK emits them)", () => {
  const sent: unknown[] = [];
  const fakeFetch: typeof fetch = async (input, init) => {
    sent.push({ url: String(input), body: JSON.parse(String(init?.body)) });
    return new Response(JSON.stringify({ ids: ["evt-9"], status: 200 }), { status: 200 });
  };
  const client = testClient({ fetch: fakeFetch });
  const other = client.createFunction({ id: "other" }, { event: "x/other" }, async () => 1);
  const fn = client.createFunction({ id: "tools" }, { event: "test/event" }, async ({ step }) => {
    await step.sleep("nap", "1h30m");
    await step.sleepUntil("until", new Date("2030-01-01T00:00:00Z"));
    const ev = await step.waitForEvent("wait", { event: "x/y", timeout: "3d", match: "data.userId" });
    const ev2 = await step.waitForEvent("wait2", {
      event: "x/z",
      timeout: 60_000,
      if: "async.data.ok == true",
    });
    const inv = await step.invoke("inv", {
      function: referenceFunction({ functionId: "remote", appId: "other-app" }),
      data: { k: 1 },
      timeout: "1h",
    });
    const inv2 = await step.invoke({ id: "inv2", name: "Invoke other" }, { function: other, data: { k: 2 } });
    const ids = await step.sendEvent("send", { name: "x/sent", data: { a: 1 } });
    return { ev, ev2, inv, inv2, ids };
  });
  const opts = { client, functions: [fn, other] };
  const S: Record<string, unknown> = {};
  const next = async () => {
    const a = await drive(opts, { fnId: "app-tools", body: callBody({ steps: S }) });
    return { status: a.status, ops: a.json as Record<string, unknown>[], json: a.json };
  };

  test("sleep → Sleep with the duration as name", async () => {
    const { status, ops } = await next();
    assert.equal(status, 206);
    assert.deepEqual(ops, [
      {
        id: sha1("nap"),
        op: "Sleep",
        name: "1h30m",
        displayName: "nap",
        opts: {},
        userland: { id: "nap" },
        data: null,
      },
    ]);
    S[sha1("nap")] = null;
  });
  test("sleepUntil → Sleep with the ISO date as name", async () => {
    const { ops } = await next();
    assert.deepEqual(ops[0], {
      id: sha1("until"),
      op: "Sleep",
      name: "2030-01-01T00:00:00.000Z",
      displayName: "until",
      opts: {},
      userland: { id: "until" },
      data: null,
    });
    S[sha1("until")] = null;
  });
  test("waitForEvent with match → if expression", async () => {
    const { ops } = await next();
    assert.deepEqual(ops[0], {
      id: sha1("wait"),
      op: "WaitForEvent",
      name: "x/y",
      displayName: "wait",
      opts: { timeout: "3d", if: "event.data.userId == async.data.userId" },
      userland: { id: "wait" },
      data: null,
    });
    S[sha1("wait")] = null; // timed out
  });
  test("waitForEvent with if and a ms timeout", async () => {
    const { ops } = await next();
    assert.deepEqual(ops[0]?.opts, { timeout: "1m", if: "async.data.ok == true" });
    S[sha1("wait2")] = { name: "x/z", data: { ok: true }, id: "ev2", ts: 1 };
  });
  test("invoke → InvokeFunction with function_id, payload and timeout (no name)", async () => {
    const { ops } = await next();
    assert.deepEqual(ops[0], {
      id: sha1("inv"),
      op: "InvokeFunction",
      displayName: "inv",
      opts: { payload: { data: { k: 1 } }, function_id: "other-app-remote", timeout: "1h" },
      userland: { id: "inv" },
      data: null,
    });
    S[sha1("inv")] = { data: { answer: 42 } };
  });
  test("invoke of a created function uses its wire id; display name is kept", async () => {
    const { ops } = await next();
    assert.equal(ops[0]?.displayName, "Invoke other");
    assert.deepEqual(ops[0]?.opts, { payload: { data: { k: 2 } }, function_id: "app-other" });
    S[sha1("inv2")] = { data: 7 };
  });
  test("sendEvent runs at once, POSTs the events, and records their ids", async () => {
    const { ops } = await next();
    assert.deepEqual(ops, [
      {
        id: sha1("send"),
        op: "StepRun",
        name: "sendEvent",
        displayName: "send",
        opts: { type: "step.sendEvent" },
        userland: { id: "send" },
        data: { ids: ["evt-9"] },
      },
    ]);
    assert.deepEqual(sent, [
      {
        url: "http://localhost:8288/e/dev",
        body: [{ name: "x/sent", data: { a: 1 }, ts: 1_700_000_000_000 }],
      },
    ]);
    S[sha1("send")] = { data: { ids: ["evt-9"] } };
  });
  test("all memoized: values come back per encoding (wait → event or null, invoke → data)", async () => {
    const { status, json } = await next();
    assert.equal(status, 200);
    assert.deepEqual(json, {
      ev: null,
      ev2: { name: "x/z", data: { ok: true }, id: "ev2", ts: 1 },
      inv: { answer: 42 },
      inv2: 7,
      ids: { ids: ["evt-9"] },
    });
  });
  test("an invoke timeout memo is thrown; uncaught it fails the run without retry", async () => {
    const a = await drive(opts, {
      fnId: "app-tools",
      body: callBody({
        steps: {
          ...S,
          [sha1("inv")]: { error: { name: "InngestInvokeTimeoutError", message: "Timed out" } },
        },
      }),
    });
    assert.equal(a.status, 400);
    assert.equal((a.json as { name: string }).name, "InngestInvokeTimeoutError");
  });
});

test("several new non-run steps are all reported", async () => {
  const client = testClient();
  const fn = client.createFunction({ id: "multi" }, { event: "test/event" }, async ({ step }) => {
    await Promise.all([step.sleep("s", 500), step.waitForEvent("w", { event: "e/x", timeout: "1d" })]);
  });
  const a = await drive({ client, functions: [fn] }, { fnId: "app-multi", body: callBody() });
  assert.deepEqual(
    (a.json as { op: string; name: string }[]).map((o) => [o.op, o.name]),
    [
      ["Sleep", "1s"],
      ["WaitForEvent", "e/x"],
    ],
  );
});

test("a lone new sleep is not executed immediately (only step.run/sendEvent are)", async () => {
  const client = testClient();
  const fn = client.createFunction({ id: "one-sleep" }, { event: "test/event" }, async ({ step }) =>
    step.sleep("s", "1d"),
  );
  const a = await drive({ client, functions: [fn] }, { fnId: "app-one-sleep", body: callBody() });
  assert.deepEqual(
    (a.json as { op: string; name: string }[]).map((o) => [o.op, o.name]),
    [["Sleep", "1d"]],
  );
});

test("bad tool arguments fail the run without retry", async () => {
  const client = testClient();
  const fn = client.createFunction({ id: "bad-sleep" }, { event: "test/event" }, async ({ step }) =>
    step.sleep("s", "soon"),
  );
  const a = await drive({ client, functions: [fn] }, { fnId: "app-bad-sleep", body: callBody() });
  assert.equal(a.status, 400);
  assert.equal(a.headers["x-inngest-no-retry"], "true");
  assert.match((a.json as { message: string }).message, /Invalid duration "soon"/);
});
