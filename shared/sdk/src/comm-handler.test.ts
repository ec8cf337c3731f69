import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalJson } from "./canonical-json.ts";
import { createRequestHandler } from "./comm-handler.ts";
import { InvalidConfigError } from "./errors.ts";
import { signPayload } from "./signature.ts";
import { callBody, callSignature, drive, testClient } from "./test-helpers.ts";

const client = testClient();
const echo = client.createFunction({ id: "echo" }, { event: "test/event" }, async ({ event }) => event.data);
const opts = { client, functions: [echo] };

describe("malformed calls are answered 400 naming the field", () => {
  const cases: [string, { body?: unknown; rawBody?: string }, RegExp][] = [
    ["not JSON", { rawBody: "{nope" }, /not JSON/],
    ["empty body", { rawBody: "" }, /missing/],
    ["event missing", { body: { ...callBody(), event: undefined } }, /^Invalid call body: event: /],
    ["ctx missing", { body: { ...callBody(), ctx: undefined } }, /^Invalid call body: ctx: /],
    [
      "run_id wrong type",
      { body: { ...callBody(), ctx: { ...(callBody().ctx as object), run_id: 7 } } },
      /ctx\.run_id: /,
    ],
    [
      "attempt negative",
      { body: { ...callBody(), ctx: { ...(callBody().ctx as object), attempt: -1 } } },
      /ctx\.attempt: /,
    ],
    [
      "use_api true",
      { body: { ...callBody(), ctx: { ...(callBody().ctx as object), use_api: true } } },
      /ctx\.use_api: use_api:true is not supported/,
    ],
    ["version 0", { body: { ...callBody(), version: 0 } }, /version: expected -1, 1 or 2/],
    ["steps not an object", { body: { ...callBody(), steps: [1] } }, /steps: /],
  ];
  for (const [label, req, pattern] of cases) {
    test(label, async () => {
      const a = await drive(opts, { fnId: "app-echo", ...req });
      assert.equal(a.status, 400);
      assert.equal(a.headers["x-inngest-no-retry"], "true");
      assert.match((a.json as { message: string }).message, pattern);
    });
  }
  test("missing fnId", async () => {
    const a = await drive(opts, { body: callBody() });
    assert.equal(a.status, 400);
    assert.equal((a.json as { field: string }).field, "fnId");
  });
});

test("a call for an unknown function is a retriable 500", async () => {
  const a = await drive(opts, { fnId: "app-nope", body: callBody() });
  assert.equal(a.status, 500);
  assert.equal(a.headers["x-inngest-no-retry"], "false");
  assert.match((a.json as { message: string }).message, /Function "app-nope" was not found/);
});

test("version absent, -1 and 1 are all accepted; events default to [event]", async () => {
  for (const version of [undefined, -1, 1]) {
    const a = await drive(opts, { fnId: "app-echo", body: { ...callBody(), version, events: undefined } });
    assert.equal(a.status, 200);
  }
});

test("GET introspects", async () => {
  const a = await drive(opts, { method: "GET" });
  assert.equal(a.status, 200);
  assert.match(a.headers["x-inngest-sdk"] ?? "", /^js:jetstep-v\d+\.\d+\.\d+$/);
  const body = a.json as Record<string, unknown>;
  assert.equal(body.function_count, 1);
  assert.equal(body.mode, "dev");
  assert.equal(body.has_signing_key, false);
  assert.equal(body.app_id, "app");
});

test("other methods get 405", async () => {
  const a = await drive(opts, { method: "DELETE" });
  assert.equal(a.status, 405);
});

describe("signatures (signing key configured)", () => {
  const key = `signkey-test-${"ab".repeat(32)}`;
  const fallback = `signkey-test-${"cd".repeat(32)}`;
  const signed = testClient({ signingKey: key, signingKeyFallback: fallback });
  const fn = signed.createFunction({ id: "echo" }, { event: "test/event" }, async () => "ok");
  const sopts = { client: signed, functions: [fn] };
  const body = callBody();
  const raw = JSON.stringify(body);
  const t = String(Math.floor(signed.now() / 1000));
  const header = (payload: string, k = key, ts = t, call = "/api/inngest?fnId=app-echo&stepId=step") =>
    callSignature(k, call, payload, ts);

  test("over the raw body: accepted, with the query in any order", async () => {
    const a = await drive(sopts, { fnId: "app-echo", rawBody: raw, headers: header(raw) });
    assert.equal(a.status, 200);
    const reordered = header(raw, key, t, "/api/inngest?stepId=step&fnId=app-echo");
    assert.equal((await drive(sopts, { fnId: "app-echo", rawBody: raw, headers: reordered })).status, 200);
  });
  test("over the JCS form (what the official SDK signs): accepted", async () => {
    assert.notEqual(canonicalJson(body), raw);
    const a = await drive(sopts, { fnId: "app-echo", rawBody: raw, headers: header(canonicalJson(body)) });
    assert.equal(a.status, 200);
  });
  test("with the fallback key: accepted", async () => {
    const a = await drive(sopts, { fnId: "app-echo", rawBody: raw, headers: header(raw, fallback) });
    assert.equal(a.status, 200);
  });
  const rejected: [string, Record<string, string>][] = [
    ["missing", {}],
    ["wrong key", header(raw, `signkey-test-${"ef".repeat(32)}`)],
    ["tampered body", header(`${raw} `)],
    ["expired (> 5 min)", header(raw, key, String(Number(t) - 301))],
    ["for another function", header(raw, key, t, "/api/inngest?fnId=app-other&stepId=step")],
    ["for another step", header(raw, key, t, "/api/inngest?fnId=app-echo&stepId=abc")],
    ["for another path", header(raw, key, t, "/other?fnId=app-echo&stepId=step")],
    [
      "with only the official SDK's header",
      { "X-Inngest-Signature": `t=${t}&s=${signPayload(raw, key, t)}` },
    ],
    ["malformed", { "X-Jetstep-Signature": "garbage" }],
  ];
  for (const [label, headers] of rejected) {
    test(`${label}: 401`, async () => {
      const a = await drive(sopts, { fnId: "app-echo", rawBody: raw, headers });
      assert.equal(a.status, 401);
      assert.equal((a.json as { message: string }).message, "Unauthorized");
    });
  }
  test("without a signing key, signatures are not checked", async () => {
    const a = await drive(opts, {
      fnId: "app-echo",
      body: callBody(),
      headers: { "X-Jetstep-Signature": "t=1&s=00" },
    });
    assert.equal(a.status, 200);
  });
});

test("the failure handler runs as <id>-failure with the rebuilt error", async () => {
  const c = testClient();
  const fn = c.createFunction(
    {
      id: "fragile",
      onFailure: async ({ error, event }) => ({
        name: error.name,
        message: error.message,
        failed: event.data.function_id,
      }),
    },
    { event: "test/event" },
    async () => {
      throw new Error("x");
    },
  );
  const failedEvent = {
    name: "inngest/function.failed",
    data: {
      function_id: "app-fragile",
      run_id: "r0",
      error: { name: "TypeError", message: "boom" },
      event: { name: "test/event", data: {} },
    },
  };
  const a = await drive(
    { client: c, functions: [fn] },
    { fnId: "app-fragile-failure", body: callBody({ event: failedEvent }) },
  );
  assert.equal(a.status, 200);
  assert.deepEqual(a.json, { name: "TypeError", message: "boom", failed: "app-fragile" });
});

describe("serve() option checks", () => {
  test("duplicate ids", () => {
    const f = client.createFunction({ id: "dup" }, { event: "a" }, () => 1);
    const g = client.createFunction({ id: "dup" }, { event: "b" }, () => 2);
    assert.throws(
      () => createRequestHandler({ client, functions: [f, g] }, "t"),
      (e) => e instanceof InvalidConfigError && /duplicate function id "app-dup"/.test(e.message),
    );
  });
  test("a function of another app", () => {
    const other = testClient({ id: "other" });
    const f = other.createFunction({ id: "f" }, { event: "a" }, () => 1);
    assert.throws(() => createRequestHandler({ client, functions: [f] }, "t"), /belongs to app "other"/);
  });
  test("not a function object", () => {
    assert.throws(
      () => createRequestHandler({ client, functions: [{} as never] }, "t"),
      (e) => e instanceof InvalidConfigError && e.field === "functions.0",
    );
  });
});
