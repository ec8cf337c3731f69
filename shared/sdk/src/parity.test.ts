/**
 * Parity with the official `inngest` SDK (v4, a workspace dev dependency): the same functions, written
 * for each SDK, get the same fabricated executor calls; statuses, retry headers and ops must match.
 * Runs both serve handlers on loopback servers; the official one in dev mode (INNGEST_DEV=1).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { serve } from "./serve-node.ts";
import { referenceFunction } from "./step-tools.ts";
import { callBody, fakeGateway, listen, memoryLogger, sha1, testClient } from "./test-helpers.ts";
import { NonRetriableError, RetryAfterError } from "./user-errors.ts";

type Body = Record<string, unknown>;
type Answer = { status: number; noRetry: string | null; retryAfter: string | null; body: unknown };

// biome-ignore lint/suspicious/noExplicitAny: the official SDK is loaded dynamically and used untyped
type Any = any;

/** Function bodies shared by both SDKs (their step/error APIs are the same). */
function defs(E: { NonRetriableError: Any; RetryAfterError: Any }, ref: (id: string) => unknown) {
  return {
    ok: async ({ step }: Any) => ({ x: await step.run("s1", () => ({ v: 1 })) }),
    "step-throws": async ({ step }: Any) =>
      step.run("s1", () => {
        throw new TypeError("boom");
      }),
    "non-retriable": async ({ step }: Any) =>
      step.run("s1", () => {
        throw new E.NonRetriableError("nope");
      }),
    "retry-after": async ({ step }: Any) =>
      step.run("s1", () => {
        throw new E.RetryAfterError("later", 30_000);
      }),
    "retry-after-date": async ({ step }: Any) =>
      step.run("s1", () => {
        throw new E.RetryAfterError("later", new Date("2030-01-01T00:00:00Z"));
      }),
    "throws-outside": async () => {
      throw new Error("outside");
    },
    "nr-outside": async () => {
      throw new E.NonRetriableError("outside-nr");
    },
    "ra-outside": async () => {
      throw new E.RetryAfterError("outside-ra", "2m");
    },
    returns: async ({ event }: Any) => ({ got: event.data }),
    undef: async () => undefined,
    parallel: async ({ step }: Any) => {
      const [p, q] = await Promise.all([step.run("p", () => "P"), step.run("q", () => "Q")]);
      return p + q;
    },
    repeat: async ({ step }: Any) => {
      const out: string[] = [];
      for (let i = 0; i < 3; i++) out.push(await step.run("same", () => `v${i}`));
      return out;
    },
    tools: async ({ step }: Any) => {
      await step.sleep("nap", "1h");
      await step.sleep("short", 500);
      await step.sleepUntil("until", new Date("2030-01-01T00:00:00Z"));
      const ev = await step.waitForEvent("wait", { event: "x/y", timeout: "3d", match: "data.userId" });
      const ev2 = await step.waitForEvent("wait2", {
        event: "x/z",
        timeout: 60_000,
        if: "async.data.ok == true",
      });
      const inv = await step.invoke("inv", { function: ref("other"), data: { k: 1 }, timeout: "1h" });
      const sent = await step.sendEvent("send", { name: "x/sent", data: { a: 1 } });
      return { ev, ev2, inv, sent };
    },
  } as const;
}
type Name = keyof ReturnType<typeof defs>;

describe("parity with the official inngest SDK", () => {
  let gateway: Awaited<ReturnType<typeof fakeGateway>>;
  let official: Awaited<ReturnType<typeof listen>>;
  let ours: Awaited<ReturnType<typeof listen>>;
  const saved = { dev: process.env.INNGEST_DEV, base: process.env.INNGEST_BASE_URL };

  before(async () => {
    gateway = await fakeGateway(() => ({ status: 200, body: { ids: ["evt-1"], status: 200 } }));
    process.env.INNGEST_DEV = "1";
    process.env.INNGEST_BASE_URL = gateway.url;
    const inngest: Any = await import("inngest");
    const inngestNode: Any = await import("inngest/node");
    const silent = { info() {}, warn() {}, error() {}, debug() {} };
    const app = new inngest.Inngest({ id: "app", logger: silent });
    const theirs = Object.entries(defs(inngest, (id) => inngest.referenceFunction({ functionId: id }))).map(
      ([id, handler]) => app.createFunction({ id, triggers: { event: "test/event" } }, handler),
    );
    official = await listen(inngestNode.serve({ client: app, functions: theirs }));

    const client = testClient({ baseUrl: gateway.url, logger: memoryLogger() });
    const mine = Object.entries(
      defs({ NonRetriableError, RetryAfterError }, (id) => referenceFunction({ functionId: id })),
    ).map(([id, handler]) => client.createFunction({ id }, { event: "test/event" }, handler as never));
    ours = await listen(serve({ client, functions: mine }));
  });
  after(async () => {
    await Promise.all([official?.close(), ours?.close(), gateway?.close()]);
    process.env.INNGEST_DEV = saved.dev;
    process.env.INNGEST_BASE_URL = saved.base;
  });

  async function post(base: string, fn: Name, body: Body, stepId = "step"): Promise<Answer> {
    const res = await fetch(`${base}/api/inngest?fnId=app-${fn}&stepId=${stepId}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-inngest-server-kind": "dev" },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      noRetry: res.headers.get("x-inngest-no-retry"),
      retryAfter: res.headers.get("retry-after"),
      body: normalize(await res.json()),
    };
  }

  /** Drops what legitimately differs: timings, stacks, and error fields beyond name/message. */
  function normalize(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(normalize);
    if (value && typeof value === "object") {
      const o = value as Record<string, unknown>;
      if (typeof o.name === "string" && typeof o.message === "string" && "stack" in o)
        return { name: o.name, message: o.message };
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) if (k !== "timing") out[k] = normalize(v);
      return out;
    }
    return value;
  }

  async function same(fn: Name, body: Body, stepId?: string): Promise<Answer> {
    const [theirs, mine] = await Promise.all([
      post(official.url, fn, body, stepId),
      post(ours.url, fn, body, stepId),
    ]);
    assert.deepEqual(mine, theirs);
    return mine;
  }

  const memo = (entries: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(entries).map(([k, v]) => [sha1(k), v]));

  test("(a) new step runs at once; planned when immediate execution is off; memo hit completes", async () => {
    assert.equal((await same("ok", callBody())).status, 206);
    await same("ok", callBody({ disableImmediateExecution: true }));
    assert.equal((await same("ok", callBody({ steps: memo({ s1: { data: { v: 1 } } }) }))).status, 200);
    await same("ok", callBody({ steps: memo({ s1: { v: 2 } }) }));
  });
  test("(b) step error before and on the last attempt", async () => {
    await same("step-throws", callBody({ attempt: 0, maxAttempts: 4 }));
    await same("step-throws", callBody({ attempt: 3, maxAttempts: 4 }));
    await same("step-throws", callBody({ attempt: 7, maxAttempts: null }));
  });
  test("(c) NonRetriableError in a step", async () => {
    await same("non-retriable", callBody());
  });
  test("(d) RetryAfterError in a step", async () => {
    assert.equal((await same("retry-after", callBody())).retryAfter, "30");
    await same("retry-after-date", callBody());
    await same("retry-after", callBody({ attempt: 3, maxAttempts: 4 }));
  });
  test("(e) errors outside steps", async () => {
    assert.equal((await same("throws-outside", callBody())).status, 500);
    assert.equal((await same("throws-outside", callBody({ attempt: 3, maxAttempts: 4 }))).status, 400);
    await same("nr-outside", callBody());
    await same("ra-outside", callBody());
  });
  test("(f) return values", async () => {
    await same("returns", callBody());
    await same("undef", callBody());
  });
  test("(g) parallel planning, running by stepId, partial memo", async () => {
    await same("parallel", callBody());
    await same("parallel", callBody(), sha1("p"));
    await same("parallel", callBody(), sha1("q"));
    await same("parallel", callBody({ steps: memo({ p: { data: "P" } }) }));
    await same("parallel", callBody({ steps: memo({ p: { data: "P" }, q: { data: "Q" } }) }));
  });
  test("(h) memoized error, uncaught", async () => {
    assert.equal(
      (await same("ok", callBody({ steps: memo({ s1: { error: { name: "TypeError", message: "boom" } } }) })))
        .status,
      400,
    );
  });
  test("repeated ids", async () => {
    await same("repeat", callBody());
    await same("repeat", callBody({ steps: memo({ same: { data: "v0" } }) }));
    await same("repeat", callBody({ steps: memo({ same: { data: "v0" }, "same:1": { data: "v1" } }) }));
    await same(
      "repeat",
      callBody({ steps: memo({ same: { data: "v0" }, "same:1": { data: "v1" }, "same:2": { data: "v2" } }) }),
    );
  });
  test("sleep, sleepUntil, waitForEvent, invoke, sendEvent", async () => {
    const steps: Record<string, unknown> = {};
    const order: [string, unknown][] = [
      ["nap", null],
      ["short", null],
      ["until", null],
      ["wait", null],
      ["wait2", { name: "x/z", data: { ok: true }, id: "e2", ts: 1 }],
      ["inv", { data: { answer: 42 } }],
      ["send", { data: { ids: ["evt-1"] } }],
    ];
    for (const [id, value] of order) {
      await same("tools", callBody({ steps: { ...steps } }));
      steps[sha1(id)] = value;
    }
    assert.equal((await same("tools", callBody({ steps }))).status, 200);
    await same(
      "tools",
      callBody({
        steps: {
          ...steps,
          [sha1("inv")]: { error: { name: "InngestInvokeTimeoutError", message: "timed out" } },
        },
      }),
    );
  });
});
