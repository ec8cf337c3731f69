/** Rerun (whole, and from a step with an edited output), invoke with a payload, live SSE stream. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import {
  type ApiRun,
  getRun,
  type ServedApp,
  type Stack,
  sendEvents,
  startApp,
  startStack,
  waitForEventRuns,
} from "./harness.ts";

describe("operating runs", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const executed: string[] = [];

  before(async () => {
    stack = await startStack();
    const client = new Jetstep({ id: "ops", baseUrl: stack.url });
    const chain = client.createFunction({ id: "chain" }, { event: "ops/chain" }, async ({ event, step }) => {
      const a = await step.run("a", () => {
        executed.push("a");
        return Number(event.data.x);
      });
      const b = await step.run("b", () => {
        executed.push("b");
        return a * 10;
      });
      return step.run("c", () => {
        executed.push("c");
        return b + 1;
      });
    });
    const napper = client.createFunction({ id: "napper" }, { event: "ops/nap" }, async ({ step }) => {
      await step.run("a", () => executed.push("a"));
      await step.sleep("nap", "1s");
      const seen = await step.waitForEvent("w", { event: "ops/never", timeout: "1s" });
      await step.run("b", () => executed.push("b"));
      return step.run("c", () => {
        executed.push("c");
        return seen;
      });
    });
    app = await startApp(stack.url, "ops", serve({ client, functions: [chain, napper] }));
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  const done = (runId: string) =>
    waitFor(
      async () => {
        const r = await getRun(stack.url, runId);
        return r && r.status !== "Running" ? r : null;
      },
      { timeoutMs: 15_000 },
    );

  it("reruns a run with the same event, and from a step with an edited output", async () => {
    const [id] = await sendEvents(stack.url, { name: "ops/chain", data: { x: 2 } });
    const [orig] = await waitForEventRuns(stack.url, id as string);
    assert.equal(orig?.output, 21);
    executed.length = 0;
    const rerun = await fetch(`${stack.url}/v1/runs/${orig?.run_id}/rerun`, { method: "POST" });
    const again = ((await rerun.json()) as { data: { run_id: string } }).data.run_id;
    assert.notEqual(again, orig?.run_id);
    assert.equal((await done(again)).output, 21);
    assert.deepEqual(executed, ["a", "b", "c"]);

    executed.length = 0;
    const fromB = await fetch(`${stack.url}/v1/runs/${orig?.run_id}/rerun`, {
      method: "POST",
      body: JSON.stringify({ fromStep: "b", output: 100 }),
    });
    assert.equal(fromB.status, 200);
    const edited = (await done(((await fromB.json()) as { data: { run_id: string } }).data.run_id)) as ApiRun;
    assert.equal(edited.output, 101);
    assert.deepEqual(executed, ["c"], "a and b come from the memo");
    const bad = await fetch(`${stack.url}/v1/runs/${orig?.run_id}/rerun`, {
      method: "POST",
      body: JSON.stringify({ fromStep: "zzz" }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^fromStep: /);
  });

  it("reruns from a step without sleeping or waiting again for what ended before it", async () => {
    const [id] = await sendEvents(stack.url, { name: "ops/nap", data: {} });
    const [orig] = await waitForEventRuns(stack.url, id as string, 1, 30_000);
    assert.equal(orig?.status, "Completed", JSON.stringify(orig?.error));
    executed.length = 0;
    const res = await fetch(`${stack.url}/v1/runs/${orig?.run_id}/rerun`, {
      method: "POST",
      body: JSON.stringify({ fromStep: "c" }),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { data: { run_id: string; seeded_steps: string[] } };
    assert.deepEqual(answer.data.seeded_steps, ["a", "nap", "w", "b"]);
    const rerun = (await done(answer.data.run_id)) as ApiRun;
    assert.equal(rerun.status, "Completed", JSON.stringify(rerun.error));
    assert.deepEqual(executed, ["c"]);
    // The sleep and the (timed-out) wait are the original's: recorded at the rerun's start, not
    // slept or waited for again.
    const steps = rerun.steps as unknown as { name: string; duration_ms: number | null }[];
    const byName = Object.fromEntries(steps.map((s) => [s.name, s]));
    assert.equal(byName.nap?.duration_ms, 0);
    assert.equal(byName.w?.duration_ms, 0);
    assert.equal(rerun.output, null, "the wait's memo is what it was: timed out, null");
  });

  it("invokes a function with a JSON payload and streams the run live over SSE", async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const stream = await fetch(`${stack.url}/v1/stream`, { signal: controller.signal });
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    void (async () => {
      for (;;) {
        const { value, done: end } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (end) return;
        seen.push(new TextDecoder().decode(value));
      }
    })();
    const res = await fetch(`${stack.url}/v1/functions/ops-chain/invoke`, {
      method: "POST",
      body: JSON.stringify({ data: { x: 5 } }),
    });
    assert.equal(res.status, 200);
    const { run_id } = ((await res.json()) as { data: { run_id: string } }).data;
    assert.equal((await done(run_id)).output, 51);
    await waitFor(
      () => seen.join("").includes(`"runId":"${run_id}"`) && seen.join("").includes('"status":"Completed"'),
      {
        timeoutMs: 10_000,
        message: "the SSE stream did not report the run",
      },
    );
    controller.abort();
    assert.equal((await fetch(`${stack.url}/v1/functions/ops-nope/invoke`, { method: "POST" })).status, 404);
  });

  it("returns an event by id, apps and functions; unknown ids are 404", async () => {
    const [id] = await sendEvents(stack.url, { name: "ops/chain", data: { x: 1 } });
    await waitForEventRuns(stack.url, id as string);
    const ev = await fetch(`${stack.url}/v1/events/${id}`);
    assert.equal(ev.status, 200);
    const body = (await ev.json()) as { data: { id: string; name: string; data: { x: number } } };
    assert.equal(body.data.id, id);
    assert.deepEqual(body.data.data, { x: 1 });
    assert.equal((await fetch(`${stack.url}/v1/events/nope`)).status, 404);
    const apps = (await (await fetch(`${stack.url}/v1/apps`)).json()) as {
      data: { appId: string; url: string; functions: unknown[] }[];
    };
    const app = apps.data.find((a) => a.appId === "ops");
    assert.ok(app?.url.startsWith("http://127.0.0.1:"));
    assert.equal(app?.functions.length, 2);
    const fns = (await (await fetch(`${stack.url}/v1/functions`)).json()) as {
      data: { id: string; triggers: unknown[] }[];
    };
    assert.deepEqual(fns.data.find((f) => f.id === "ops-chain")?.triggers, [{ event: "ops/chain" }]);
  });
});
