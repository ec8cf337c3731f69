/**
 * Bulk operations end to end, on `jetstep dev` with an app on our SDK: a paused function's runs
 * are scheduled but not called until it is resumed (another function of the same event runs
 * meanwhile), and they show as the function's backlog; a replay of the failed runs of a range
 * after a fix reruns each once, and the reruns complete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import {
  apiFetch,
  eventRuns,
  type ServedApp,
  type Stack,
  sendEvents,
  startApp,
  startStack,
  waitForEventRuns,
} from "./harness.ts";

async function api<T>(url: string, method = "GET", body?: unknown): Promise<{ status: number; data: T }> {
  const res = await apiFetch(url, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
      : {}),
  });
  const json = (await res.json()) as { data: T; error?: string };
  assert.ok(res.status < 500, json.error);
  return { status: res.status, data: json.data };
}

describe("bulk operations end to end", () => {
  let stack: Stack;
  let app: ServedApp;
  const calls = { held: 0, free: 0 };
  let fixed = false;

  before(async () => {
    // Counts reach ROLLUPS every 500 ms instead of 10 s: the backlog test waits for them.
    stack = await startStack({ rollupFlushMs: 500 });
    const client = new Jetstep({ id: "bulk-app", baseUrl: stack.url });
    const held = client.createFunction({ id: "held" }, { event: "bulk/go" }, async ({ step }) => {
      calls.held++;
      return step.run("work", () => "held done");
    });
    const free = client.createFunction({ id: "free" }, { event: "bulk/go" }, async ({ step }) => {
      calls.free++;
      return step.run("work", () => "free done");
    });
    const flaky = client.createFunction(
      { id: "flaky", retries: 0 },
      { event: "bulk/flaky" },
      async ({ step, event }) =>
        step.run("charge", () => {
          if (!fixed) throw new Error(`bug in charge for ${event.data.n}`);
          return `charged ${event.data.n}`;
        }),
    );
    app = await startApp(stack.url, "bulk-app", serve({ client, functions: [held, free, flaky] }));
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("holds a paused function's new runs until it is resumed, counting them as backlog", async () => {
    const paused = await api(`${stack.url}/v1/functions/bulk-app-held/pause`, "POST", { reason: "test" });
    assert.equal(paused.status, 200);
    const [eventId] = await sendEvents(stack.url, { name: "bulk/go", data: {} });
    // The other function of the event runs: the event was matched and the executor is at work.
    await waitFor(
      async () =>
        (await eventRuns(stack.url, eventId as string))?.find((r) => r.function_id === "bulk-app-free")
          ?.status === "Completed",
      { timeoutMs: 30_000, message: "the unpaused function's run never completed" },
    );
    const heldRun = (await eventRuns(stack.url, eventId as string))?.find(
      (r) => r.function_id === "bulk-app-held",
    );
    assert.equal(heldRun?.status, "Running", "the paused function's run is scheduled, not ended");
    // Executors append their counts every rollupFlushMs: the held call shows as backlog.
    await waitFor(
      async () => {
        const a = await api<{ points: { backlog: number }[] }>(
          `${stack.url}/v1/functions/bulk-app-held/activity`,
        );
        return a.data.points.some((p) => p.backlog >= 1);
      },
      { timeoutMs: 30_000, message: "the held run never showed as backlog" },
    );
    assert.equal(calls.held, 0, "the paused function was never called");

    assert.equal((await api(`${stack.url}/v1/functions/bulk-app-held/resume`, "POST")).status, 200);
    const runs = await waitForEventRuns(stack.url, eventId as string, 2);
    assert.deepEqual(runs.map((r) => [r.function_id, r.status]).sort(), [
      ["bulk-app-free", "Completed"],
      ["bulk-app-held", "Completed"],
    ]);
  });

  it("replays the failed runs of a range after a fix: each once, and they complete", async () => {
    const from = Date.now() - 1_000;
    const ids = await sendEvents(stack.url, [
      { name: "bulk/flaky", data: { n: 1 } },
      { name: "bulk/flaky", data: { n: 2 } },
    ]);
    for (const id of ids) {
      const [run] = await waitForEventRuns(stack.url, id);
      assert.equal(run?.status, "Failed");
    }
    fixed = true;
    const range = { function_id: "bulk-app-flaky", from, to: Date.now() + 1_000 };
    // RUN_INDEX is written as each run ends: wait until the preview sees both.
    await waitFor(
      async () =>
        (await api<{ count: number }>(`${stack.url}/v1/replays`, "POST", { ...range, dry_run: true })).data
          .count === 2,
      { timeoutMs: 10_000, message: "the preview never counted the two failed runs" },
    );
    const started = await api<{ id: string }>(`${stack.url}/v1/replays`, "POST", range);
    assert.equal(started.status, 202);
    await waitFor(
      async () =>
        (await api<{ state: string }>(`${stack.url}/v1/operations/${started.data.id}`)).data.state === "done",
      { timeoutMs: 30_000, message: "the replay never finished" },
    );
    await waitFor(
      async () => {
        const res = await api<{ status: string; output: unknown }[]>(
          `${stack.url}/v1/runs?function_id=bulk-app-flaky&status=Completed`,
        );
        return res.data.length === 2;
      },
      { timeoutMs: 30_000, message: "the replayed runs never completed" },
    );
    const ops = await api<{ kind: string; done: number }[]>(
      `${stack.url}/v1/operations?function_id=bulk-app-flaky`,
    );
    assert.deepEqual(
      ops.data.map((o) => [o.kind, o.done]),
      [["replay", 2]],
    );
  });
});
