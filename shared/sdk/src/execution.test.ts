import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { callBody, drive, memoryLogger, sha1, testClient } from "./test-helpers.ts";
import { NonRetriableError, RetryAfterError } from "./user-errors.ts";

const client = testClient();
const fns = {
  ok: client.createFunction({ id: "ok" }, { event: "test/event" }, async ({ step }) => {
    const x = await step.run("s1", () => ({ v: 1 }));
    return { x };
  }),
  stepThrows: client.createFunction({ id: "step-throws" }, { event: "test/event" }, async ({ step }) => {
    await step.run("s1", () => {
      throw new TypeError("boom");
    });
  }),
  nonRetriable: client.createFunction({ id: "non-retriable" }, { event: "test/event" }, async ({ step }) => {
    await step.run("s1", () => {
      throw new NonRetriableError("nope");
    });
  }),
  retryAfter: client.createFunction({ id: "retry-after" }, { event: "test/event" }, async ({ step }) => {
    await step.run("s1", () => {
      throw new RetryAfterError("later", 30_000);
    });
  }),
  retryAfterDate: client.createFunction(
    { id: "retry-after-date" },
    { event: "test/event" },
    async ({ step }) => {
      await step.run("s1", () => {
        throw new RetryAfterError("later", new Date("2030-01-01T00:00:00Z"));
      });
    },
  ),
  throwsOutside: client.createFunction({ id: "throws-outside" }, { event: "test/event" }, async () => {
    throw new Error("outside");
  }),
  nonRetriableOutside: client.createFunction(
    { id: "non-retriable-outside" },
    { event: "test/event" },
    async () => {
      throw new NonRetriableError("outside-nr");
    },
  ),
  retryAfterOutside: client.createFunction(
    { id: "retry-after-outside" },
    { event: "test/event" },
    async () => {
      throw new RetryAfterError("outside-ra", "2m");
    },
  ),
  returns: client.createFunction(
    { id: "returns" },
    { event: "test/event" },
    async ({ event, runId, attempt }) => ({
      got: event.data,
      runId,
      attempt,
    }),
  ),
  returnsUndefined: client.createFunction(
    { id: "returns-undefined" },
    { event: "test/event" },
    async () => undefined,
  ),
  parallel: client.createFunction({ id: "parallel" }, { event: "test/event" }, async ({ step }) => {
    const [p, q] = await Promise.all([step.run("p", () => "P"), step.run("q", () => "Q")]);
    return p + q;
  }),
  memoErr: client.createFunction({ id: "memo-err" }, { event: "test/event" }, async ({ step }) => {
    await step.run("s1", () => 1);
    return "unreached";
  }),
  memoErrCaught: client.createFunction(
    { id: "memo-err-caught" },
    { event: "test/event" },
    async ({ step }) => {
      try {
        await step.run("s1", () => 1);
        return "no error";
      } catch (e) {
        const err = e as Error & { stepId?: string; code?: string };
        return { name: err.name, message: err.message, stepId: err.stepId, code: err.code };
      }
    },
  ),
  repeat: client.createFunction({ id: "repeat" }, { event: "test/event" }, async ({ step }) => {
    const out: string[] = [];
    for (let i = 0; i < 3; i++) out.push(await step.run("same", () => `v${i}`));
    return out;
  }),
  race: client.createFunction({ id: "race" }, { event: "test/event" }, async ({ step }) =>
    Promise.race([step.run("a", () => "A"), step.run("b", () => "B")]),
  ),
  wide: client.createFunction({ id: "wide" }, { event: "test/event" }, async ({ step }) => {
    const order: number[] = [];
    const all = await Promise.all(
      Array.from({ length: 10_000 }, (_, i) =>
        step
          .run(`w${i}`, () => i)
          .then((v) => {
            order.push(v);
            return v;
          }),
      ),
    );
    return { sum: all.reduce((a, b) => a + b, 0), first: order.slice(0, 3), last: order.at(-1) };
  }),
};
const serveOpts = { client, functions: Object.values(fns), stepNotFoundTimeoutMs: 200 };
const call = (fn: keyof typeof fns, body: Record<string, unknown>, extra: { stepId?: string } = {}) =>
  drive(serveOpts, { fnId: `app-${fns[fn].id}`, body, ...extra });

describe("(a) a new step.run", () => {
  test("runs at once and answers 206 [StepRun] with its data", async () => {
    const a = await call("ok", callBody());
    assert.equal(a.status, 206);
    assert.equal(a.headers["x-inngest-no-retry"], undefined);
    assert.equal(a.headers["x-inngest-req-version"], "2");
    assert.match(a.headers["x-inngest-sdk"] ?? "", /^js:jetstep-v/);
    assert.deepEqual(a.json, [
      {
        id: sha1("s1"),
        op: "StepRun",
        name: "s1",
        displayName: "s1",
        opts: {},
        userland: { id: "s1" },
        data: { v: 1 },
      },
    ]);
  });
  test("with disable_immediate_execution it is only planned", async () => {
    const a = await call("ok", callBody({ disableImmediateExecution: true }));
    assert.equal(a.status, 206);
    assert.deepEqual(a.json, [
      {
        id: sha1("s1"),
        op: "StepPlanned",
        name: "s1",
        displayName: "s1",
        opts: {},
        userland: { id: "s1" },
        data: null,
      },
    ]);
  });
  test("a memoized step returns its data and the function completes (200)", async () => {
    for (const memo of [{ data: { v: 1 } }, { type: "data", data: { v: 1 } }, { v: 1 }]) {
      const a = await call("ok", callBody({ steps: { [sha1("s1")]: memo } }));
      assert.equal(a.status, 200);
      assert.deepEqual(a.json, { x: { v: 1 } });
    }
  });
});

describe("(b) a step throws a normal error", () => {
  test("before the last attempt: 206 [StepError], no-retry false", async () => {
    const a = await call("stepThrows", callBody({ attempt: 0, maxAttempts: 5 }));
    assert.equal(a.status, 206);
    assert.equal(a.headers["x-inngest-no-retry"], "false");
    const [op] = a.json as Record<string, unknown>[];
    assert.equal(op?.op, "StepError");
    assert.equal(op?.id, sha1("s1"));
    assert.equal(op?.data, null);
    assert.deepEqual(
      { ...(op?.error as object), stack: "…" },
      { name: "TypeError", message: "boom", stack: "…", __serialized: true },
    );
  });
  test("max_attempts absent counts as not last", async () => {
    const a = await call("stepThrows", callBody({ attempt: 9, maxAttempts: null }));
    assert.equal((a.json as { op: string }[])[0]?.op, "StepError");
  });
  test("on the last attempt: 206 [StepFailed], no-retry true, data is the error", async () => {
    const a = await call("stepThrows", callBody({ attempt: 4, maxAttempts: 5 }));
    assert.equal(a.status, 206);
    assert.equal(a.headers["x-inngest-no-retry"], "true");
    const [op] = a.json as Record<string, unknown>[];
    assert.equal(op?.op, "StepFailed");
    assert.deepEqual(op?.data, { __serialized: true, name: "TypeError", message: "boom", stack: "" });
  });
});

test("(c) NonRetriableError in a step: 206 [StepFailed], no-retry true", async () => {
  const a = await call("nonRetriable", callBody());
  assert.equal(a.status, 206);
  assert.equal(a.headers["x-inngest-no-retry"], "true");
  const [op] = a.json as Record<string, unknown>[];
  assert.equal(op?.op, "StepFailed");
  assert.equal((op?.error as { name: string } | undefined)?.name, "NonRetriableError");
});

describe("(d) RetryAfterError in a step", () => {
  test("ms → Retry-After in whole seconds, StepError", async () => {
    const a = await call("retryAfter", callBody());
    assert.equal(a.status, 206);
    assert.equal(a.headers["x-inngest-no-retry"], "false");
    assert.equal(a.headers["retry-after"], "30");
    assert.equal((a.json as { op: string }[])[0]?.op, "StepError");
  });
  test("Date → ISO Retry-After", async () => {
    const a = await call("retryAfterDate", callBody());
    assert.equal(a.headers["retry-after"], "2030-01-01T00:00:00.000Z");
  });
  test("on the last attempt it fails without Retry-After", async () => {
    const a = await call("retryAfter", callBody({ attempt: 4, maxAttempts: 5 }));
    assert.equal(a.headers["x-inngest-no-retry"], "true");
    assert.equal(a.headers["retry-after"], undefined);
    assert.equal((a.json as { op: string }[])[0]?.op, "StepFailed");
  });
});

describe("(e) the handler throws outside a step", () => {
  test("before the last attempt: 500, no-retry false, serialized error", async () => {
    const a = await call("throwsOutside", callBody());
    assert.equal(a.status, 500);
    assert.equal(a.headers["x-inngest-no-retry"], "false");
    const body = a.json as Record<string, unknown>;
    assert.equal(body.name, "Error");
    assert.equal(body.message, "outside");
    assert.equal(body.__serialized, true);
  });
  test("on the last attempt: 400, no-retry true", async () => {
    const a = await call("throwsOutside", callBody({ attempt: 4, maxAttempts: 5 }));
    assert.equal(a.status, 400);
    assert.equal(a.headers["x-inngest-no-retry"], "true");
  });
  test("NonRetriableError: 400, no-retry true", async () => {
    const a = await call("nonRetriableOutside", callBody());
    assert.equal(a.status, 400);
    assert.equal(a.headers["x-inngest-no-retry"], "true");
    assert.equal((a.json as { name: string }).name, "NonRetriableError");
  });
  test("RetryAfterError: 500 with Retry-After", async () => {
    const a = await call("retryAfterOutside", callBody());
    assert.equal(a.status, 500);
    assert.equal(a.headers["retry-after"], "120");
  });
});

describe("(f) the handler returns", () => {
  test("200 with the JSON result; context carries event, runId, attempt", async () => {
    const a = await call("returns", callBody({ attempt: 2 }));
    assert.equal(a.status, 200);
    assert.equal(a.headers["x-inngest-no-retry"], undefined);
    assert.deepEqual(a.json, { got: { userId: "u1" }, runId: "run-1", attempt: 2 });
  });
  test("undefined becomes null", async () => {
    const a = await call("returnsUndefined", callBody());
    assert.equal(a.status, 200);
    assert.equal(a.body, "null");
  });
});

describe("(g) parallel steps", () => {
  test("two new steps are planned, not run", async () => {
    const a = await call("parallel", callBody());
    assert.equal(a.status, 206);
    assert.deepEqual(a.json, [
      {
        id: sha1("p"),
        op: "StepPlanned",
        name: "p",
        displayName: "p",
        opts: {},
        userland: { id: "p" },
        data: null,
      },
      {
        id: sha1("q"),
        op: "StepPlanned",
        name: "q",
        displayName: "q",
        opts: {},
        userland: { id: "q" },
        data: null,
      },
    ]);
  });
  test("stepId runs exactly the planned step named", async () => {
    const a = await call("parallel", callBody(), { stepId: sha1("q") });
    assert.equal(a.status, 206);
    assert.deepEqual(a.json, [
      {
        id: sha1("q"),
        op: "StepRun",
        name: "q",
        displayName: "q",
        opts: {},
        userland: { id: "q" },
        data: "Q",
      },
    ]);
  });
  test("with one of them memoized the other is the only new step and runs at once", async () => {
    const a = await call("parallel", callBody({ steps: { [sha1("p")]: { data: "P" } } }));
    assert.deepEqual(
      (a.json as { op: string; id: string }[]).map((o) => [o.op, o.id]),
      [["StepRun", sha1("q")]],
    );
  });
  test("both memoized: the function completes", async () => {
    const a = await call(
      "parallel",
      callBody({ steps: { [sha1("p")]: { data: "P" }, [sha1("q")]: { data: "Q" } } }),
    );
    assert.equal(a.status, 200);
    assert.equal(a.json, "PQ");
  });
  test("an unknown stepId is answered 500 step-not-found after the timeout", async () => {
    const a = await call("parallel", callBody(), { stepId: "deadbeef" });
    assert.equal(a.status, 500);
    assert.equal(a.headers["x-inngest-no-retry"], "false");
    const body = a.json as { requestedStep: string; totalFoundSteps: number; error: string };
    assert.equal(body.requestedStep, "deadbeef");
    assert.equal(body.totalFoundSteps, 2);
    assert.match(body.error, /Could not find step "deadbeef"/);
  });
  test("memoized steps resolve in completion (stack) order, so races replay deterministically", async () => {
    const steps = { [sha1("a")]: { data: "A" }, [sha1("b")]: { data: "B" } };
    const bFirst = await call("race", callBody({ steps, stack: [sha1("b"), sha1("a")] }));
    assert.equal(bFirst.json, "B");
    const aFirst = await call("race", callBody({ steps, stack: [sha1("a"), sha1("b")] }));
    assert.equal(aFirst.json, "A");
  });
  test("10,000 memoized parallel steps replay in stack order (a fan-out parent's last call)", async () => {
    // Completed in reverse: the stack says w9999 first. Replaying used to scan the queue and the
    // stack for every step (O(n²) each), which took minutes at this size.
    const ids = Array.from({ length: 10_000 }, (_, i) => `w${i}`);
    const steps = Object.fromEntries(ids.map((id, i) => [sha1(id), { data: i }]));
    const a = await call("wide", callBody({ steps, stack: ids.map(sha1).reverse() }));
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { sum: (10_000 * 9_999) / 2, first: [9999, 9998, 9997], last: 0 });
  });
});

describe("(h) a memoized error", () => {
  const err = { error: { name: "TypeError", message: "boom", stack: "TypeError: boom\n at x" } };
  test("uncaught: 400, no-retry true, the memo's error re-serialized", async () => {
    const a = await call("memoErr", callBody({ steps: { [sha1("s1")]: err } }));
    assert.equal(a.status, 400);
    assert.equal(a.headers["x-inngest-no-retry"], "true");
    const body = a.json as Record<string, unknown>;
    assert.equal(body.name, "TypeError");
    assert.equal(body.message, "boom");
  });
  test("caught: the handler sees a StepError with the original name and message", async () => {
    const a = await call("memoErrCaught", callBody({ steps: { [sha1("s1")]: err } }));
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { name: "TypeError", message: "boom", stepId: "s1", code: "STEP_FAILED" });
  });
});

describe("repeated step ids", () => {
  test("the n-th repeat hashes id:n and carries userland.index", async () => {
    const first = await call("repeat", callBody());
    assert.deepEqual((first.json as { id: string }[])[0]?.id, sha1("same"));
    const second = await call("repeat", callBody({ steps: { [sha1("same")]: { data: "v0" } } }));
    const [op] = second.json as { id: string; userland: unknown; name: string }[];
    assert.equal(op?.id, sha1("same:1"));
    assert.deepEqual(op?.userland, { id: "same", index: 1 });
    assert.equal(op?.name, "same");
    const done = await call(
      "repeat",
      callBody({
        steps: {
          [sha1("same")]: { data: "v0" },
          [sha1("same:1")]: { data: "v1" },
          [sha1("same:2")]: { data: "v2" },
        },
      }),
    );
    assert.deepEqual(done.json, ["v0", "v1", "v2"]);
  });
});

test("the logger carries runId and fnId and stays silent while memoized steps replay", async () => {
  const lines: { level: string; bindings: Record<string, unknown>; args: unknown[] }[] = [];
  const c = testClient({ logger: memoryLogger(lines) });
  const fn = c.createFunction({ id: "logs" }, { event: "test/event" }, async ({ step, logger }) => {
    logger.info("before a");
    await step.run("a", () => 1);
    logger.info("before b");
    await step.run("b", () => {
      logger.info("inside b");
      return 2;
    });
    logger.info("after b");
  });
  await drive(
    { client: c, functions: [fn] },
    { fnId: "app-logs", body: callBody({ steps: { [sha1("a")]: { data: 1 } } }) },
  );
  const messages = lines.filter((l) => l.level === "info").map((l) => l.args[0]);
  assert.deepEqual(messages, ["before b", "inside b"]);
  const line = lines.find((l) => l.args[0] === "before b");
  assert.deepEqual(line?.bindings, { runId: "run-1", fnId: "app-logs" });
});

test("a step result that can't be serialized fails the step without retry", async () => {
  const c = testClient();
  const fn = c.createFunction({ id: "bigint" }, { event: "test/event" }, async ({ step }) =>
    step.run("s", () => 10n),
  );
  const a = await drive({ client: c, functions: [fn] }, { fnId: "app-bigint", body: callBody() });
  assert.equal(a.headers["x-inngest-no-retry"], "true");
  const [op] = a.json as { op: string; error: { message: string } }[];
  assert.equal(op?.op, "StepFailed");
  assert.match(op?.error.message ?? "", /not JSON-serializable/);
});

test("an un-awaited new step is reported even though the handler returned", async () => {
  const c = testClient();
  const fn = c.createFunction({ id: "fire-and-forget" }, { event: "test/event" }, async ({ step }) => {
    void step.run("later", () => 1);
    void step.sleep("nap", "1s");
    return "done";
  });
  const a = await drive({ client: c, functions: [fn] }, { fnId: "app-fire-and-forget", body: callBody() });
  assert.equal(a.status, 206);
  assert.deepEqual(
    (a.json as { op: string }[]).map((o) => o.op),
    ["StepPlanned", "Sleep"],
  );
});
