import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidConfigError } from "./errors.ts";
import { testClient } from "./test-helpers.ts";

const client = testClient();
const noop = () => undefined;

describe("createFunction validates config and triggers, naming the field", () => {
  const rejects: [string, unknown, unknown, string, RegExp?][] = [
    ["missing id", {}, { event: "a" }, "config.id"],
    ["empty id", { id: "" }, { event: "a" }, "config.id"],
    ["id with spaces", { id: "send email" }, { event: "a" }, "config.id"],
    ["retries above 20", { id: "f", retries: 21 }, { event: "a" }, "config.retries", /<=\s?20/],
    ["negative retries", { id: "f", retries: -1 }, { event: "a" }, "config.retries"],
    ["fractional retries", { id: "f", retries: 1.5 }, { event: "a" }, "config.retries", /integer/],
    ["unknown option", { id: "f", retry: 3 }, { event: "a" }, "config", /retry/],
    [
      "concurrency limit type",
      { id: "f", concurrency: { limit: "5" } },
      { event: "a" },
      "config.concurrency",
    ],
    [
      "throttle bad period",
      { id: "f", throttle: { limit: 1, period: "soon" } },
      { event: "a" },
      "config.throttle.period",
      /invalid duration "soon"/,
    ],
    [
      "rateLimit missing limit",
      { id: "f", rateLimit: { period: "1h" } },
      { event: "a" },
      "config.rateLimit.limit",
    ],
    ["debounce missing period", { id: "f", debounce: {} }, { event: "a" }, "config.debounce.period"],
    [
      "batchEvents maxSize 0",
      { id: "f", batchEvents: { maxSize: 0, timeout: "5s" } },
      { event: "a" },
      "config.batchEvents.maxSize",
    ],
    ["cancelOn not an array", { id: "f", cancelOn: { event: "x" } }, { event: "a" }, "config.cancelOn"],
    [
      "cancelOn item without event",
      { id: "f", cancelOn: [{ match: "data.id" }] },
      { event: "a" },
      "config.cancelOn.0.event",
    ],
    [
      "timeouts bad finish",
      { id: "f", timeouts: { finish: "later" } },
      { event: "a" },
      "config.timeouts.finish",
    ],
    ["onFailure not a function", { id: "f", onFailure: "x" }, { event: "a" }, "config.onFailure"],
    ["empty trigger array", { id: "f" }, [], "trigger", /at least one/],
    ["trigger without event or cron", { id: "f" }, { name: "a" }, "trigger"],
    ["empty event name", { id: "f" }, { event: "" }, "trigger"],
    ["cron with 3 fields", { id: "f" }, { cron: "* * *" }, "trigger"],
    ["cron minute out of range", { id: "f" }, { cron: "61 * * * *" }, "trigger", /invalid cron/],
    [
      "cron with an unknown time zone",
      { id: "f" },
      { cron: "TZ=Mars/Base 0 12 * * 5" },
      "trigger",
      /time zone/i,
    ],
    [
      "trigger if that is not CEL",
      { id: "f" },
      { event: "a", if: "event.data.x ==" },
      "trigger",
      /invalid expression/,
    ],
    [
      "cancelOn if that is not CEL",
      { id: "f", cancelOn: [{ event: "x", if: "async.data.( == 1" }] },
      { event: "a" },
      "config.cancelOn.0.if",
      /invalid expression/,
    ],
    [
      "cancelOn match that is not a field path",
      { id: "f", cancelOn: [{ event: "x", match: "data.id == 1" }] },
      { event: "a" },
      "config.cancelOn.0.match",
      /field path/,
    ],
    [
      "idempotency that is not CEL",
      { id: "f", idempotency: "event.data.id +" },
      { event: "a" },
      "config.idempotency",
    ],
  ];
  for (const [label, config, trigger, field, message] of rejects) {
    test(label, () => {
      assert.throws(
        () => client.createFunction(config as never, trigger as never, noop),
        (e: unknown) => {
          assert.ok(e instanceof InvalidConfigError, String(e));
          assert.equal(e.field.startsWith(field), true, `field ${e.field} should start with ${field}`);
          assert.match(e.message, /^createFunction\(/);
          assert.ok(e.message.includes(field), e.message);
          if (message) assert.match(e.message, message);
          return true;
        },
      );
    });
  }
  test("a handler that isn't a function", () => {
    assert.throws(
      () => client.createFunction({ id: "f" }, { event: "a" }, "nope" as never),
      (e) => e instanceof InvalidConfigError && e.field === "handler",
    );
  });
});

test("a valid definition is frozen and gets the wire id <appId>-<fnId>", () => {
  const fn = client.createFunction(
    {
      id: "send-welcome-email",
      retries: 0,
      concurrency: [{ limit: 5, key: "event.data.userId" }, 10],
      throttle: { limit: 1, period: "1m", burst: 2 },
      debounce: { period: 5000 },
      cancelOn: [{ event: "user/deleted", match: "data.userId", timeout: "1d" }],
    },
    [{ event: "user/signup", if: "event.data.plan == 'pro'" }, { cron: "TZ=Europe/Paris 0 9 * * 1-5" }],
    noop,
  );
  assert.equal(fn.wireId, "app-send-welcome-email");
  assert.equal(fn.config.retries, 0);
  assert.equal(fn.triggers.length, 2);
  assert.ok(Object.isFrozen(fn.config));
  assert.ok(Object.isFrozen(fn.triggers));
  assert.equal(fn.failureWireId, undefined);
});

describe("new Jetstep() options", () => {
  test("baseUrl from JETSTEP_BASE_URL, then INNGEST_BASE_URL, then the default", () => {
    assert.equal(
      testClient({ env: { JETSTEP_BASE_URL: "http://a:1/", INNGEST_BASE_URL: "http://b:2" } }).baseUrl,
      "http://a:1",
    );
    assert.equal(testClient({ env: { INNGEST_BASE_URL: "http://b:2" } }).baseUrl, "http://b:2");
    assert.equal(testClient({ env: {} }).baseUrl, "http://localhost:8288");
    assert.equal(
      testClient({ baseUrl: "http://c:3", env: { JETSTEP_BASE_URL: "http://a:1" } }).baseUrl,
      "http://c:3",
    );
  });
  test("keys from env", () => {
    const c = testClient({ env: { INNGEST_EVENT_KEY: "ek", JETSTEP_SIGNING_KEY: "signkey-dev-00" } });
    assert.equal(c.settings.eventKey, "ek");
    assert.equal(c.settings.signingKey, "signkey-dev-00");
  });
  test("invalid options name the field", () => {
    assert.throws(
      () => testClient({ id: "" }),
      (e) => e instanceof InvalidConfigError && e.field === "id",
    );
    assert.throws(
      () => testClient({ baseUrl: "localhost:8288" }),
      (e) => e instanceof InvalidConfigError && e.field === "baseUrl",
    );
  });
});
