/**
 * The shop example as real processes: `jetstep dev`, `orders` (HTTP) and `billing` (NATS worker).
 * An order placed over HTTP goes through the whole chain — step.invoke across services, events
 * each way — and a declined card compensates the stock reservation.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  freePort,
  type NatsServerHandle,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { type ApiRun, eventRuns, sendEvents, spawnJetstep, startShop, waitForEventRuns } from "./harness.ts";

interface StoredEvent {
  id: string;
  name: string;
  data: Record<string, unknown>;
}

type CompensatedRun = ApiRun & {
  phase: string;
  compensation?: { steps: { name: string; status: string; output: unknown }[] };
};

describe("multi-service example (examples/shop)", () => {
  let nats: NatsServerHandle;
  let url: string;
  const procs: TsProcess[] = [];
  let stopping = false;
  /** A process that dies before the teardown is a failure cause: print what it said. */
  const watch = (name: string, p: TsProcess) => {
    void p.exited.then((e) => {
      if (!stopping) console.error(`${name} exited early (${JSON.stringify(e)}):\n${p.output()}`);
    });
    return p;
  };

  before(async () => {
    nats = await startNatsServer();
    const port = await freePort();
    const ordersPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    procs.push(
      watch(
        "jetstep dev",
        await spawnJetstep(nats.url, port, [
          "-u",
          `http://127.0.0.1:${ordersPort}/api/inngest`,
          "--retry-interval",
          "0.2",
        ]),
      ),
    );
    const env = { JETSTEP_BASE_URL: url, NATS_URL: nats.url, PORT: String(ordersPort) };
    await startShop(url, env, (name, p) => {
      procs.push(p);
      return watch(name, p);
    });
  });
  after(async () => {
    stopping = true;
    for (const p of procs.reverse()) await p.kill("SIGKILL");
    await nats?.stop();
  });

  /** The runs started by the first event named `name` whose data has `orderId`. */
  const runsOfEvent = async (name: string, orderId: string): Promise<ApiRun[]> =>
    waitFor(
      async () => {
        const res = await fetch(`${url}/v1/events?name=${encodeURIComponent(name)}&limit=200`);
        const events = ((await res.json()) as { data: StoredEvent[] }).data;
        const event = events.find((e) => e.data.orderId === orderId);
        if (!event) return null;
        const runs = await eventRuns(url, event.id);
        return runs?.length && runs.every((r) => r.status !== "Running") ? runs : null;
      },
      { timeoutMs: 30_000, message: `no finished run of a ${name} event for ${orderId}` },
    );

  it("places an order: invoke across services, and events each way trigger the other service", async () => {
    const [id] = await sendEvents(url, {
      name: "shop/order.placed",
      data: { orderId: "o-1", sku: "tea", quantity: 2, amount: 40 },
    });
    const [order] = await waitForEventRuns(url, id as string, 1, 30_000);
    assert.equal(order?.function_id, "orders-place-order");
    assert.equal(order?.status, "Completed", JSON.stringify(order?.error));
    assert.deepEqual(order?.output, {
      orderId: "o-1",
      status: "confirmed",
      reservation: { sku: "tea", quantity: 2 },
      chargeId: "ch_o-1",
    });
    const invoke = order?.steps.find((s) => s.name === "charge-card");
    assert.deepEqual(invoke?.output, { chargeId: "ch_o-1", invoiceId: "inv_o-1", amount: 40 });

    // billing (NATS) → orders (HTTP): the invoice billing announced was filed by orders.
    const [filed] = await runsOfEvent("billing/invoice.created", "o-1");
    assert.equal(filed?.function_id, "orders-record-invoice");
    assert.equal(filed?.status, "Completed");
    assert.deepEqual(filed?.output, { orderId: "o-1", invoiceId: "inv_o-1", filed: true });

    // orders (HTTP) → billing (NATS): the confirmation triggered billing's receipt.
    const [receipt] = await runsOfEvent("shop/order.confirmed", "o-1");
    assert.equal(receipt?.function_id, "billing-send-receipt");
    assert.equal(receipt?.status, "Completed");
    assert.deepEqual(receipt?.output, { orderId: "o-1", receipt: "rcpt_o-1" });
  });

  it("compensates the stock reservation when billing declines the card", async () => {
    const [id] = await sendEvents(url, {
      name: "shop/order.placed",
      data: { orderId: "o-2", sku: "mug", quantity: 1, amount: 5000 },
    });
    const [order] = (await waitForEventRuns(url, id as string, 1, 30_000)) as CompensatedRun[];
    assert.equal(order?.status, "Failed");
    assert.match(order?.error?.message ?? "", /card declined: 5000 is over the limit/);
    const full = (await (await fetch(`${url}/v1/runs/${order?.run_id}`)).json()) as { data: CompensatedRun };
    assert.equal(full.data.phase, "compensated");
    assert.deepEqual(
      full.data.compensation?.steps.map((s) => [s.name, s.status, s.output]),
      [["reserve-stock", "completed", { released: 1, sku: "mug" }]],
    );
  });

  it("fails an order with bad data at once, naming the field", async () => {
    const [id] = await sendEvents(url, {
      name: "shop/order.placed",
      data: { orderId: "o-3", sku: "tea", quantity: 0, amount: 10 },
    });
    const [order] = await waitForEventRuns(url, id as string, 1, 30_000);
    assert.equal(order?.status, "Failed");
    assert.match(order?.error?.message ?? "", /event\.data\.quantity must be a positive integer/);
  });
});
