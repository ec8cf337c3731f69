/** `ctx.defer()`: what rides along with each answer, and what a later call does not send again. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { callBody, drive, sha1, testClient } from "./test-helpers.ts";

const client = testClient();
const later = client.createDefer({ id: "later" }, async ({ event }) => event.data);
const fns = {
  done: client.createFunction({ id: "done" }, { event: "test/event" }, async ({ defer }) => {
    defer("d1", { function: later, data: { n: 1 } });
    defer("gone", { function: later, data: { n: 2 } }).abort();
    return "ok";
  }),
  fails: client.createFunction({ id: "fails", retries: 0 }, { event: "test/event" }, async ({ defer }) => {
    defer("d1", { function: later, data: { n: 1 } });
    throw new Error("boom");
  }),
  steps: client.createFunction({ id: "steps" }, { event: "test/event" }, async ({ defer, step }) => {
    const handle = defer("d1", { function: later, data: { n: 1 } });
    await step.run("s1", () => 1);
    handle.abort();
    await step.run("s2", () => 2);
  }),
};
const serveOpts = { client, functions: [later, ...Object.values(fns)], stepNotFoundTimeoutMs: 200 };
const call = (fn: keyof typeof fns, body: Record<string, unknown>) =>
  drive(serveOpts, { fnId: `app-${fns[fn].id}`, body });
const add = (id: string, n: number) => ({
  id: sha1(id),
  op: "DeferAdd",
  name: id,
  displayName: id,
  opts: { fn_slug: "app-later", input: { n } },
  userland: { id },
});

describe("defer()", () => {
  test("rides before the end of the run, as the official SDK sends it; one aborted at once never ships", async () => {
    const a = await call("done", callBody());
    assert.equal(a.status, 206);
    assert.deepEqual(a.json, [add("d1", 1), { id: sha1("complete"), op: "RunComplete", data: "ok" }]);
  });

  test("rides before the function's error, which is the 'complete' pseudo step's", async () => {
    const a = await call("fails", callBody({ maxAttempts: 1 }));
    assert.equal(a.status, 206);
    assert.equal(a.headers["x-inngest-no-retry"], "true");
    const [d, end] = a.json as { op: string; id: string; error?: { message: string } }[];
    assert.deepEqual(d, add("d1", 1));
    assert.deepEqual([end?.op, end?.id, end?.error?.message], ["StepFailed", sha1("complete"), "boom"]);
  });

  test("rides with the step ran; a later call sends a recorded defer no more, and aborts it", async () => {
    const first = await call("steps", callBody());
    assert.deepEqual(
      (first.json as { op: string }[]).map((o) => o.op),
      ["StepRun", "DeferAdd"],
    );
    const again = await call(
      "steps",
      callBody({ steps: { [sha1("s1")]: { data: 1 } }, defers: { [sha1("d1")]: { abortable: true } } }),
    );
    assert.deepEqual(
      (again.json as { op: string; opts?: { target_hashed_id?: string } }[]).map((o) => [
        o.op,
        o.opts?.target_hashed_id ?? null,
      ]),
      [
        ["StepRun", null],
        ["DeferAbort", sha1("d1")],
      ],
    );
    // Jetstep says it can no longer be aborted: abort() does nothing.
    const closed = await call(
      "steps",
      callBody({ steps: { [sha1("s1")]: { data: 1 } }, defers: { [sha1("d1")]: { abortable: false } } }),
    );
    assert.deepEqual(
      (closed.json as { op: string }[]).map((o) => o.op),
      ["StepRun"],
    );
  });

  test("the deferred function triggers on inngest/deferred.schedule for its own slug", () => {
    assert.equal(later.deferSlug, "app-later");
    assert.deepEqual(later.triggers, [
      { event: "inngest/deferred.schedule", if: "event.data._inngest.fn_slug == 'app-later'" },
    ]);
  });
});
