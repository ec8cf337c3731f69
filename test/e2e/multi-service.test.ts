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
    const invoke = order?.steps.find((s) => s.name === "charge-card") as
      | (ApiRun["steps"][number] & { outcome?: { run_id?: string } })
      | undefined;
    assert.deepEqual(invoke?.output, { chargeId: "ch_o-1", invoiceId: "inv_o-1", amount: 40 });
    // The invoke links to the child run it started, and the child back to the order.
    const childId = invoke?.outcome?.run_id as string;
    const child = (await (await fetch(`${url}/v1/runs/${childId}`)).json()) as {
      data: { function_id: string; invoked_by?: { run_id: string; function_id: string } };
    };
    assert.equal(child.data.function_id, "billing-charge-card");
    assert.deepEqual(child.data.invoked_by, { run_id: order?.run_id, function_id: "orders-place-order" });

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

  it("GET /metrics counts what the three orders did, in the Prometheus text format", async () => {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    const order = 'function="orders-place-order",app="orders"';
    assert.equal(value(`jetstep_runs_started_total{${order}}`), 3, text);
    assert.equal(value(`jetstep_runs_ended_total{${order},status="completed"}`), 1);
    assert.equal(value(`jetstep_runs_ended_total{${order},status="failed"}`), 2);
    assert.equal(value(`jetstep_run_duration_seconds_count{${order},status="failed"}`), 2);
    assert.ok((value(`jetstep_step_attempts_total{${order},outcome="completed"}`) ?? 0) >= 2);
    // The worker's runs are counted under its app too.
    assert.ok(
      (value('jetstep_runs_ended_total{function="billing-send-receipt",app="billing",status="completed"}') ??
        0) >= 1,
    );
    // Three orders POSTed, and the confirmation orders sent (HTTP); billing's came over NATS.
    assert.equal(value('jetstep_events_received_total{source="http"}'), 4);
    assert.ok((value('jetstep_events_received_total{source="nats"}') ?? 0) >= 1);
    // Read from NATS at the scrape: the durable consumers' lag (all caught up by now).
    assert.equal(value('jetstep_consumer_pending{stream="EVENTS",consumer="matcher"}'), 0);
    assert.equal(value('jetstep_partition_backlog{partition="0"}'), 0);
    assert.match(text, /^jetstep_timers_pending \d+$/m);
  });
});
