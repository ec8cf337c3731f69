/** idempotency (one run per key per 24 h, skips visible per event) and batchEvents (size, timeout, key). */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { type ServedApp, type Stack, sendEvents, startApp, startStack, waitForEventRuns } from "./harness.ts";

describe("idempotency and batching", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const orders: unknown[] = [];
  const batches: { user: unknown; ids: unknown[] }[] = [];

  before(async () => {
    stack = await startStack();
    const client = new Jetstep({ id: "batcher", baseUrl: stack.url });
    const charge = client.createFunction(
      { id: "charge", idempotency: "event.data.orderId" },
      { event: "pay/charge" },
      async ({ event }) => {
        orders.push(event.data.orderId);
        return event.data.orderId;
      },
    );
    const collect = client.createFunction(
      { id: "collect", batchEvents: { maxSize: 5, timeout: "1s", key: "event.data.user" } },
      { event: "batch/item" },
      async ({ events }) => {
        batches.push({ user: events[0]?.data.user, ids: events.map((e) => e.data.i) });
        return events.length;
      },
    );
    app = await startApp(stack.url, "batcher", serve({ client, functions: [charge, collect] }));
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("starts at most one run per idempotency key and shows why the others started none", async () => {
    const [first] = await sendEvents(stack.url, { name: "pay/charge", data: { orderId: "o-1" } });
    await waitForEventRuns(stack.url, first as string);
    const [dup] = await sendEvents(stack.url, { name: "pay/charge", data: { orderId: "o-1" } });
    const [other] = await sendEvents(stack.url, { name: "pay/charge", data: { orderId: "o-2" } });
    await waitForEventRuns(stack.url, other as string);
    const res = await waitFor(
      async () => {
        const r = await fetch(`${stack.url}/v1/events/${dup}/runs`);
        return r.status === 200
          ? ((await r.json()) as { data: unknown[]; skipped?: { fnId: string; reason: string }[] })
          : null;
      },
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(res.data, []);
    assert.equal(res.skipped?.[0]?.fnId, "batcher-charge");
    assert.match(res.skipped?.[0]?.reason ?? "", /idempotency/);
    assert.deepEqual(orders.sort(), ["o-1", "o-2"]);
  });

  it("runs once per full batch and once per timed-out partial batch, per key", async () => {
    const items = [
      ...Array.from({ length: 7 }, (_, i) => ({ name: "batch/item", data: { user: "ann", i } })),
      ...Array.from({ length: 2 }, (_, i) => ({ name: "batch/item", data: { user: "bob", i: 100 + i } })),
    ];
    const sentAt = Date.now();
    await sendEvents(stack.url, items);
    await waitFor(() => batches.reduce((n, b) => n + b.ids.length, 0) === 9, {
      timeoutMs: 15_000,
      message: "batches did not all run",
    });
    const ann = batches
      .filter((b) => b.user === "ann")
      .map((b) => b.ids.length)
      .sort();
    const bob = batches.filter((b) => b.user === "bob").map((b) => b.ids.length);
    assert.deepEqual(ann, [2, 5]);
    assert.deepEqual(bob, [2]);
    assert.ok(Date.now() - sentAt >= 1000, "partial batches waited for the timeout");
    const all = batches.flatMap((b) => b.ids).sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 100, 101]);
  });
});
