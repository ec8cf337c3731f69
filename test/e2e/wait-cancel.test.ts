/**
 * step.waitForEvent (match / if / timeout / only later events / per-key), cancelOn, and the
 * cancellation API (one run, bulk). Functions use our SDK, served in this process.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import {
  type ApiRun,
  eventRuns,
  getRun,
  type ServedApp,
  type Stack,
  sendEvents,
  startApp,
  startStack,
  waitForEventRuns,
  waitForEventsMatched,
} from "./harness.ts";

describe("waitForEvent and cancellation", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const counts: Record<string, number> = {};
  const cancelledRuns: string[] = [];
  const bump = (k: string) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };

  /** Waits until the run an event started is in the given phase. */
  async function runInPhase(eventId: string, phase: string): Promise<ApiRun> {
    return waitFor(
      async () => {
        const [run] = (await eventRuns(stack.url, eventId)) ?? [];
        return run && (run as ApiRun & { phase: string }).phase === phase ? run : null;
      },
      { timeoutMs: 20_000, message: `run of ${eventId} never reached ${phase}` },
    );
  }

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const client = new Jetstep({ id: "waits", baseUrl: stack.url });
    const byMatch = client.createFunction({ id: "by-match" }, { event: "shop/order" }, async ({ step }) => {
      const paid = await step.waitForEvent("for-payment", {
        event: "shop/paid",
        timeout: "10s",
        match: "data.orderId",
      });
      return paid ? { paid: paid.data } : { paid: null };
    });
    const byIf = client.createFunction({ id: "by-if" }, { event: "shop/bid" }, async ({ step }) => {
      const bid = await step.waitForEvent("for-higher", {
        event: "shop/counter",
        timeout: "10s",
        if: "async.data.item == event.data.item && async.data.amount > event.data.amount",
      });
      return bid ? bid.data : null;
    });
    const shortWait = client.createFunction(
      { id: "short-wait" },
      { event: "shop/short" },
      async ({ step }) => {
        const ev = await step.waitForEvent("brief", { event: "shop/never", timeout: "1s" });
        return { got: ev };
      },
    );
    const cancellable = client.createFunction(
      { id: "cancellable", cancelOn: [{ event: "shop/cancel", match: "data.orderId" }] },
      { event: "shop/long" },
      async ({ event, step }) => {
        await step.run("first", () => bump(`first:${event.data.orderId}`));
        await step.sleep("pause", "3s");
        await step.run("second", () => bump(`second:${event.data.orderId}`));
        return "finished";
      },
    );
    const sleeper = client.createFunction(
      { id: "sleeper" },
      { event: "shop/sleep" },
      async ({ event, step }) => {
        await step.sleep("long", "30s");
        await step.run("after", () => bump(`after-sleep:${event.data.k}`));
      },
    );
    const onCancelled = client.createFunction(
      { id: "on-cancelled" },
      { event: "inngest/function.cancelled", if: "event.data.function_id == 'waits-cancellable'" },
      async ({ event }) => {
        cancelledRuns.push(event.data.run_id as string);
      },
    );
    app = await startApp(
      stack.url,
      "waits",
      serve({ client, functions: [byMatch, byIf, shortWait, cancellable, sleeper, onCancelled] }),
    );
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("resolves with the first matching event after the wait began (match); earlier events do not count", async () => {
    // An event for order 1 that arrives before the run waits must not match.
    await sendEvents(stack.url, { name: "shop/paid", data: { orderId: 1, early: true } });
    const [a] = await sendEvents(stack.url, { name: "shop/order", data: { orderId: 1 } });
    const [b] = await sendEvents(stack.url, { name: "shop/order", data: { orderId: 2 } });
    await runInPhase(a as string, "waiting");
    await runInPhase(b as string, "waiting");
    await sendEvents(stack.url, { name: "shop/paid", data: { orderId: 2, amount: 20 } });
    await sendEvents(stack.url, { name: "shop/paid", data: { orderId: 1, amount: 10 } });
    await sendEvents(stack.url, { name: "shop/paid", data: { orderId: 1, amount: 11 } });
    const [runA] = await waitForEventRuns(stack.url, a as string);
    const [runB] = await waitForEventRuns(stack.url, b as string);
    assert.deepEqual(runA?.output, { paid: { orderId: 1, amount: 10 } });
    assert.deepEqual(runB?.output, { paid: { orderId: 2, amount: 20 } });
  });

  it("matches with an `if` expression over event and async", async () => {
    const [id] = await sendEvents(stack.url, { name: "shop/bid", data: { item: "lamp", amount: 50 } });
    await runInPhase(id as string, "waiting");
    await sendEvents(stack.url, [
      { name: "shop/counter", data: { item: "lamp", amount: 40 } },
      { name: "shop/counter", data: { item: "desk", amount: 90 } },
      { name: "shop/counter", data: { nothing: true } }, // evaluation error: no match, no crash
    ]);
    // The matchers have offered these to the wait: a match would have sent its resumption already
    // (the first per wait wins, so the output below would be that event's).
    await waitForEventsMatched(stack.nats.url);
    assert.equal(
      (await getRun(stack.url, (await runInPhase(id as string, "waiting")).run_id))?.status,
      "Running",
    );
    await sendEvents(stack.url, { name: "shop/counter", data: { item: "lamp", amount: 60 } });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.deepEqual(run?.output, { item: "lamp", amount: 60 });
  });

  it("resolves with null at the timeout", async () => {
    const started = Date.now();
    const [id] = await sendEvents(stack.url, { name: "shop/short", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.deepEqual(run?.output, { got: null });
    assert.ok(Date.now() - started >= 1000);
  });

  it("cancels a run on a matching cancelOn event between steps; it runs no further step", async () => {
    const [keep] = await sendEvents(stack.url, { name: "shop/long", data: { orderId: 7 } });
    const [drop] = await sendEvents(stack.url, { name: "shop/long", data: { orderId: 8 } });
    await runInPhase(drop as string, "sleeping");
    await runInPhase(keep as string, "sleeping");
    await sendEvents(stack.url, { name: "shop/cancel", data: { orderId: 8 } });
    const [cancelled] = await waitForEventRuns(stack.url, drop as string);
    assert.equal(cancelled?.status, "Cancelled");
    const [kept] = await waitForEventRuns(stack.url, keep as string);
    assert.equal(kept?.status, "Completed");
    assert.equal(counts["second:7"], 1);
    assert.equal(counts["first:8"], 1);
    assert.equal(counts["second:8"], undefined, "a cancelled run runs no further step");
    // …and the cancellation was announced as inngest/function.cancelled (a function triggered by it ran).
    await waitFor(() => cancelledRuns.includes(cancelled?.run_id as string), {
      timeoutMs: 10_000,
      message: "no inngest/function.cancelled for the run",
    });
    assert.equal((await getRun(stack.url, cancelled?.run_id as string))?.status, "Cancelled");
  });

  it("cancels one run with DELETE /v1/runs/:id", async () => {
    const [id] = await sendEvents(stack.url, { name: "shop/sleep", data: { k: "api" } });
    const run = await runInPhase(id as string, "sleeping");
    const res = await fetch(`${stack.url}/v1/runs/${run.run_id}`, { method: "DELETE" });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { data: ApiRun }).data.status, "Cancelled");
    const again = await fetch(`${stack.url}/v1/runs/${run.run_id}`, { method: "DELETE" });
    assert.equal(again.status, 409);
    assert.equal((await fetch(`${stack.url}/v1/runs/01UNKNOWNRUN`, { method: "DELETE" })).status, 404);
  });

  it("cancels many runs with POST /v1/cancellations and reports how many", async () => {
    const ids = await sendEvents(
      stack.url,
      Array.from({ length: 6 }, (_, i) => ({
        name: "shop/sleep",
        data: { k: `bulk-${i}`, group: i < 4 ? "a" : "b" },
      })),
    );
    for (const id of ids) await runInPhase(id, "sleeping");
    const bad = await fetch(`${stack.url}/v1/cancellations`, {
      method: "POST",
      body: JSON.stringify({ started_after: "x" }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /function_id/);
    const res = await fetch(`${stack.url}/v1/cancellations`, {
      method: "POST",
      body: JSON.stringify({
        function_id: "waits-sleeper",
        if: "event.data.group == 'a'",
        started_after: new Date(Date.now() - 60_000).toISOString(),
      }),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { data: { cancelled: number } }).data.cancelled, 4);
    const statuses = await waitFor(
      async () => {
        const runs = (await Promise.all(ids.map((id) => eventRuns(stack.url, id)))).flat() as ApiRun[];
        return runs.filter((r) => r.status === "Cancelled").length === 4 ? runs.map((r) => r.status) : null;
      },
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(statuses, ["Cancelled", "Cancelled", "Cancelled", "Cancelled", "Running", "Running"]);
  });
});
