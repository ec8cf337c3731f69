/** Bad input at the gateway: clear errors naming the field, and nothing of a rejected request stored. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Streams } from "@jetstep/core";
import { type Stack, startStack } from "./harness.ts";

describe("gateway input validation", () => {
  let stack: Stack;
  const post = async (path: string, body: string) => {
    const res = await fetch(`${stack.url}${path}`, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    return {
      status: res.status,
      body: (await res.json()) as { error?: string; ids?: string[]; ok?: boolean; modified?: boolean },
    };
  };
  const storedEvents = async () => (await stack.runtime.nats.jsm.streams.info(Streams.events)).state.messages;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.stop();
  });

  it("accepts one event or a batch and answers ids with status 200", async () => {
    const before = await storedEvents();
    const one = await post("/e/key", JSON.stringify({ name: "t/one", data: { a: 1 } }));
    assert.equal(one.status, 200);
    assert.equal(one.body.ids?.length, 1);
    const many = await post(
      "/e/key",
      JSON.stringify([{ name: "t/a" }, { name: "t/b", data: {}, id: "fixed-id" }]),
    );
    assert.deepEqual(many.body.ids?.[1], "fixed-id");
    assert.equal(await storedEvents(), before + 3);
  });

  it("rejects invalid JSON with the parse error", async () => {
    const r = await post("/e/key", "{nope");
    assert.equal(r.status, 400);
    assert.match(r.body.error ?? "", /invalid JSON: .*position/);
  });

  it("names the bad field, and stores nothing of a rejected batch", async () => {
    const before = await storedEvents();
    const cases: [unknown, RegExp][] = [
      [{ data: {} }, /event\.name: /],
      [{ name: "" }, /event\.name: must be a non-empty string/],
      [{ name: "x", data: [1] }, /event\.data: must be an object/],
      [{ name: "x", data: "s" }, /event\.data: must be an object/],
      [[{ name: "ok" }, { name: "bad", data: 5 }], /events\[1\]\.data: must be an object/],
      ["just a string", /event: must be an object/],
    ];
    for (const [body, re] of cases) {
      const r = await post("/e/key", JSON.stringify(body));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
    assert.equal(await storedEvents(), before);
  });

  it("rejects an event over 512 KiB with 413 and more than 5000 events with 400", async () => {
    const before = await storedEvents();
    const big = await post(
      "/e/key",
      JSON.stringify([{ name: "ok" }, { name: "big", data: { s: "x".repeat(600 * 1024) } }]),
    );
    assert.equal(big.status, 413);
    assert.match(big.body.error ?? "", /events\[1\] is \d+ bytes; at most 524288/);
    const many = await post("/e/key", JSON.stringify(Array.from({ length: 5001 }, () => ({ name: "n" }))));
    assert.equal(many.status, 400);
    assert.match(many.body.error ?? "", /too many events: 5001/);
    assert.equal(await storedEvents(), before);
  });

  it("stores all 5000 events of a maximal batch", async () => {
    const before = await storedEvents();
    const r = await post(
      "/e/key",
      JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ name: "bulk", data: { i } }))),
    );
    assert.equal(r.status, 200);
    assert.equal(new Set(r.body.ids).size, 5000);
    assert.equal(await storedEvents(), before + 5000);
  });

  const registration = (fns: unknown[]) => ({
    url: "http://127.0.0.1:1/api",
    appName: "reg-app",
    functions: fns,
  });
  const fn = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    name: id,
    triggers: [{ event: "t/x" }],
    steps: {
      step: {
        id: "step",
        name: "step",
        runtime: { type: "http", url: `http://127.0.0.1:1/api?fnId=${id}&stepId=step` },
      },
    },
    ...extra,
  });

  it("registers an app and keeps the previous registration when a new one is invalid", async () => {
    const ok = await post("/fn/register", JSON.stringify(registration([fn("reg-app-a")])));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.ok, true);
    const bad: [unknown, RegExp][] = [
      [
        registration([{ ...fn("reg-app-b"), triggers: [{ cron: "* * * * *", jitter: "soon" }] }]),
        /functions\.0\.triggers\.0\.jitter: /,
      ],
      [
        registration([fn("reg-app-b", { steps: { step: { runtime: { url: "nope" } } } })]),
        /functions\.0\.steps\.step\.runtime\.url/,
      ],
      [
        registration([
          fn("reg-app-b", { steps: { step: { runtime: { url: "http://x/" }, retries: { attempts: 21 } } } }),
        ]),
        /retries\.attempts: must be at most 20/,
      ],
      [
        registration([fn("reg-app-b", { triggers: [{ event: "t/x", expression: "event.data.x ==" }] })]),
        /functions\.0\.triggers\.0\.expression: invalid expression/,
      ],
      [{ ...registration([]), appName: undefined }, /appName/],
      [
        registration([fn("reg-app-b", { triggers: [{ cron: "61 * * * *" }] })]),
        /functions\.0\.triggers\.0\.cron: invalid cron/,
      ],
      [
        registration([fn("reg-app-b", { triggers: [{ cron: "TZ=Mars/Base 0 12 * * 5" }] })]),
        /triggers\.0\.cron: .*time zone/i,
      ],
      [
        registration([fn("reg-app-b", { timeouts: { finish: "soon" } })]),
        /functions\.0\.timeouts\.finish: invalid duration/,
      ],
      [
        registration([fn("reg-app-b", { cancel: [{ event: "x", if: "async.data.id ==" }] })]),
        /functions\.0\.cancel\.0\.if: invalid expression/,
      ],
      [
        registration([fn("reg-app-b", { cancel: [{ event: "x", timeout: "1 fortnight" }] })]),
        /functions\.0\.cancel\.0\.timeout: invalid duration/,
      ],
      [registration([fn("reg-app-a"), fn("reg-app-a")]), /functions\.1\.id: duplicate function id/],
      [
        registration([
          fn("reg-app-b", { batchEvents: { maxSize: 5, timeout: "1s" }, cancel: [{ event: "x" }] }),
        ]),
        /functions\.0: batchEvents cannot be combined with cancelOn/,
      ],
      [
        registration([fn("reg-app-b", { batchEvents: { maxSize: 0, timeout: "1s" } })]),
        /batchEvents\.maxSize: must be an integer from 1 to 100/,
      ],
      [
        registration([fn("reg-app-b", { idempotency: "event.data.id +" })]),
        /functions\.0\.idempotency: invalid expression/,
      ],
      [
        registration([fn("reg-app-b", { concurrency: { limit: -1 } })]),
        /functions\.0\.concurrency\.limit: must be 0 or more/,
      ],
      [
        registration([fn("reg-app-b", { concurrency: [{ limit: 2, key: "event.data.(" }] })]),
        /functions\.0\.concurrency\.0\.key: invalid expression/,
      ],
      [
        registration([fn("reg-app-b", { concurrency: { limit: 2, scope: "env" } })]),
        /functions\.0\.concurrency\.key: the "env" scope needs a key/,
      ],
      [
        registration([fn("reg-app-b", { rateLimit: { limit: 0, period: "1m" } })]),
        /functions\.0\.rateLimit\.limit: must be an integer of at least 1/,
      ],
      [
        registration([fn("reg-app-b", { throttle: { limit: 1, period: "a while" } })]),
        /functions\.0\.throttle\.period: invalid duration/,
      ],
      [
        registration([fn("reg-app-b", { singleton: { mode: "queue" } })]),
        /functions\.0\.singleton\.mode: must be "skip" or "cancel"/,
      ],
      [
        registration([fn("reg-app-b", { debounce: { period: "0s" } })]),
        /functions\.0\.debounce\.period: must be longer than 0/,
      ],
      [
        registration([fn("reg-app-b", { priority: { run: "event.data.p *" } })]),
        /functions\.0\.priority\.run: invalid expression/,
      ],
    ];
    for (const [body, re] of bad) {
      const r = await post("/fn/register", JSON.stringify(body));
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error ?? "", re);
    }
    const fns = (await (await fetch(`${stack.url}/v1/functions`)).json()) as { data: { id: string }[] };
    assert.deepEqual(
      fns.data.map((f) => f.id),
      ["reg-app-a"],
    );
  });

  it("answers 404 for unknown runs and events", async () => {
    assert.equal((await fetch(`${stack.url}/v1/runs/01NOPE`)).status, 404);
    assert.equal((await fetch(`${stack.url}/v1/runs/a.b`)).status, 404);
    assert.equal((await fetch(`${stack.url}/v1/events/nope/runs`)).status, 404);
  });
});
