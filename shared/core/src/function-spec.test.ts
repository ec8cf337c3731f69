import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { functionSpec } from "./function-spec.ts";
import {
  type FunctionDef,
  FunctionDefSchema,
  formatIssues,
  RegisterRequestSchema,
} from "./schemas/function-config.ts";

const base = {
  id: "shop-fulfil",
  triggers: [{ event: "order/placed" }],
  steps: {
    step: { id: "step", name: "step", runtime: { type: "http", url: "http://app.test/api?fnId=fulfil" } },
  },
};
const parse = (extra: Record<string, unknown>): FunctionDef => FunctionDefSchema.parse({ ...base, ...extra });
const problem = (extra: Record<string, unknown>): string => {
  const r = FunctionDefSchema.safeParse({ ...base, ...extra });
  assert.equal(r.success, false, `accepted ${JSON.stringify(extra)}`);
  return formatIssues((r as { error: Parameters<typeof formatIssues>[0] }).error);
};

describe("FunctionDefSchema: the registered options, checked", () => {
  it("names the field of each bad option", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ rateLimit: { limit: 0, period: "1m" } }, /^rateLimit\.limit: must be an integer of at least 1/],
      [{ throttle: { limit: 1, period: "a while" } }, /^throttle\.period: invalid duration/],
      [
        { throttle: { limit: 1, period: "1m", burst: 0 } },
        /^throttle\.burst: must be an integer of at least 1/,
      ],
      [{ debounce: { period: "0s" } }, /^debounce\.period: must be longer than 0/],
      [{ debounce: { period: "1s", key: "event.data.(" } }, /^debounce\.key: invalid expression/],
      [{ singleton: { mode: "queue" } }, /^singleton\.mode: must be "skip" or "cancel"/],
      [{ priority: { run: 5 } }, /^priority\.run: must be a CEL expression string/],
      [{ priority: "high" }, /^priority: must be an object/],
      [{ idempotency: "event.data.id +" }, /^idempotency: invalid expression/],
      [
        { batchEvents: { maxSize: 101, timeout: "1s" } },
        /^batchEvents\.maxSize: must be an integer from 1 to 100/,
      ],
      [
        { batchEvents: { maxSize: 5, timeout: "1s", if: "event.data.x ==" } },
        /^batchEvents\.if: invalid expression/,
      ],
      [{ concurrency: [{ limit: 2, key: "event.data.(" }] }, /^concurrency\.0\.key: invalid expression/],
      [{ concurrency: { limit: 2, scope: "account" } }, /^concurrency\.key: the "account" scope needs a key/],
      [{ timeouts: { start: "soon" } }, /^timeouts\.start: invalid duration/],
      [{ cancel: [{ event: "x", timeout: "1 fortnight" }] }, /^cancel\.0\.timeout: invalid duration/],
      [{ triggers: [{ cron: "61 * * * *" }] }, /^triggers\.0\.cron: invalid cron/],
      [{ triggers: [{ cron: "* * * * *", jitter: "2d" }] }, /^triggers\.0\.jitter: /],
      [
        { triggers: [{ event: "a", expression: "event.data.x ==" }] },
        /^triggers\.0\.expression: invalid expression/,
      ],
      [{ compensateOnCancel: "yes" }, /^compensateOnCancel: must be true or false/],
      [
        { batchEvents: { maxSize: 5, timeout: "1s" }, singleton: { mode: "skip" } },
        /batchEvents cannot be combined with singleton/,
      ],
      [
        { batchEvents: { maxSize: 5, timeout: "1s" }, cancel: [{ event: "x" }] },
        /batchEvents cannot be combined with cancelOn \(cancel\)/,
      ],
    ];
    for (const [extra, re] of cases) assert.match(problem(extra), re, JSON.stringify(extra));
  });

  it("keeps what other SDKs send that it does not know, inside options too", () => {
    const fn = parse({ throttle: { limit: 1, period: "1m", newThing: true }, optimizeParallelism: true });
    assert.deepEqual(fn.throttle, { limit: 1, period: "1m", newThing: true });
    assert.equal((fn as Record<string, unknown>).optimizeParallelism, true);
  });

  it("refuses two functions with one id in a registration", () => {
    const r = RegisterRequestSchema.safeParse({
      url: "http://app.test/api",
      appName: "shop",
      functions: [base, base],
    });
    assert.equal(r.success, false);
    assert.match(
      formatIssues((r as { error: Parameters<typeof formatIssues>[0] }).error),
      /^functions\.1\.id: duplicate function id "shop-fulfil"/,
    );
  });
});

describe("functionSpec: the options normalised once", () => {
  it("keeps concurrency limits with their keys compiled, a limit of 0 being none", () => {
    const spec = functionSpec(parse({ concurrency: [{ limit: 3, key: "event.data.user" }, { limit: 0 }] }));
    assert.equal(spec.concurrency.length, 1);
    assert.equal(spec.concurrency[0]?.key?.evaluate({ event: { data: { user: "u1" } } }).value, "u1");
  });

  it("carries each option as the matcher and the executor use it", () => {
    const spec = functionSpec(
      parse({
        steps: {
          step: { id: "step", name: "step", runtime: { url: "http://app.test/x" }, retries: { attempts: 2 } },
        },
        rateLimit: { limit: 10, period: "1m", key: "event.data.user" },
        throttle: { limit: 2, period: 5000, burst: 3 },
        singleton: { mode: "cancel", key: "event.data.user" },
        debounce: { period: "30s", timeout: "2m" },
        priority: { run: "event.data.p" },
        idempotency: "event.data.id",
        cancel: [
          { event: "order/cancelled", if: "async.data.id == event.data.id", timeout: "1d" },
          { event: "user/gone" },
        ],
        compensateOnCancel: true,
      }),
    );
    const event = { data: { user: "u1", shop: "s9", n: 2, p: 30, id: "o1" } };
    assert.equal(spec.url, "http://app.test/x");
    assert.equal(spec.maxAttempts, 3);
    assert.equal(spec.rateLimit?.periodMs, 60_000);
    assert.equal(spec.rateLimit?.period, "1m");
    assert.equal(spec.rateLimit?.key?.evaluate({ event }).value, "u1");
    assert.deepEqual({ ...spec.throttle }, { limit: 2, periodMs: 5000, period: 5000, burst: 3 });
    assert.equal(spec.singleton?.mode, "cancel");
    assert.deepEqual({ ...spec.debounce }, { periodMs: 30_000, timeoutMs: 120_000 });
    const batch = functionSpec(
      parse({ batchEvents: { maxSize: 50, timeout: "10s", key: "event.data.shop", if: "event.data.n > 1" } }),
    ).batch;
    assert.equal(batch?.maxSize, 50);
    assert.equal(batch?.timeoutMs, 10_000);
    assert.equal(batch?.if?.test({ event }).value, true);
    assert.equal(batch?.key?.evaluate({ event }).value, "s9");
    assert.equal(spec.priority?.evaluate({ event }).value, 30);
    assert.equal(spec.idempotency?.evaluate({ event }).value, "o1");
    assert.deepEqual(spec.cancelOn, [
      { event: "order/cancelled", if: "async.data.id == event.data.id", timeoutMs: 86_400_000 },
      { event: "user/gone" },
    ]);
    assert.equal(spec.compensateOnCancel, true);
  });

  it("leaves out what was not registered", () => {
    const spec = functionSpec(parse({}));
    assert.deepEqual(Object.keys(spec).sort(), [
      "cancelOn",
      "compensateOnCancel",
      "concurrency",
      "maxAttempts",
      "url",
    ]);
    assert.equal(spec.maxAttempts, 5, "4 retries by default");
  });
});
