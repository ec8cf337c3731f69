/**
 * Traces checked in a real Jaeger (the pinned v2 binary with `infra/jaeger/config.yaml`): `jetstep
 * dev` and the shop example's two services (orders over HTTP, billing as a NATS worker) export
 * OTLP/HTTP to it, as docker compose runs them. One order must come back from Jaeger's query API
 * as ONE trace: the order's run span, its steps (the app's own span under reserve-stock), the
 * invoke span, and billing's invoked run under it with its steps and its app span — parents
 * checked by span id, services by name.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  freePort,
  type JaegerHandle,
  type NatsServerHandle,
  startJaeger,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { type ApiRun, getRun, sendEvents, spawnJetstep, startShop, waitForEventRuns } from "./harness.ts";

/** The parts of Jaeger's `/api/traces/<id>` answer this test reads. */
interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  processID: string;
  tags: { key: string; value: unknown }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

/** A span as this test checks it: service resolved, parent from its CHILD_OF reference. */
interface Span {
  id: string;
  name: string;
  service: string;
  parent: string | undefined;
  tags: Record<string, unknown>;
}

const spansOf = (t: JaegerTrace): Span[] =>
  t.spans.map((s) => ({
    id: s.spanID,
    name: s.operationName,
    service: t.processes[s.processID]?.serviceName ?? `?${s.processID}`,
    parent: s.references.find((r) => r.refType === "CHILD_OF")?.spanID,
    tags: Object.fromEntries(s.tags.map((t) => [t.key, t.value])),
  }));

/**
 * A step's span is that of one attempt: a retried step (a slow machine can make a worker miss its
 * heartbeats) has an errored one too. The completed attempt is the step's; other spans count as is.
 */
const isDone = (s: Span): boolean =>
  !s.name.startsWith("step ") || s.tags["jetstep.step.status"] === "completed";

/** The one span named `name` under `parent` (none: at the root); throws naming what is missing. */
function pick(spans: Span[], name: string, parent?: Span): Span {
  const found = spans.filter((s) => s.name === name && isDone(s) && s.parent === parent?.id);
  if (found.length !== 1)
    throw new Error(
      `${found.length} × "${name}" ${parent ? `under "${parent.name}" ${parent.id}` : "at the root"}`,
    );
  return found[0] as Span;
}

/**
 * The order's trace as README's Traces section draws it, parents checked by span id:
 *
 *     run orders-place-order               the root (no sender)
 *     ├─ step reserve-stock
 *     │  └─ warehouse: reserve             orders' own span, made inside the step
 *     ├─ invoke billing-charge-card
 *     │  └─ run billing-charge-card
 *     │     ├─ step authorize
 *     │     │  └─ card network: authorize  billing's own span
 *     │     ├─ step issue-invoice
 *     │     └─ step announce-invoice
 *     └─ step announce-confirmed
 */
function orderTree(spans: Span[]) {
  const run = pick(spans, "run orders-place-order");
  const reserve = pick(spans, "step reserve-stock", run);
  const warehouse = pick(spans, "warehouse: reserve", reserve);
  const invoke = pick(spans, "invoke billing-charge-card", run);
  const confirmed = pick(spans, "step announce-confirmed", run);
  const charge = pick(spans, "run billing-charge-card", invoke);
  const authorize = pick(spans, "step authorize", charge);
  const card = pick(spans, "card network: authorize", authorize);
  const issue = pick(spans, "step issue-invoice", charge);
  const announce = pick(spans, "step announce-invoice", charge);
  return { run, reserve, warehouse, invoke, confirmed, charge, authorize, card, issue, announce };
}

/** The trace as an indented tree, for failure messages. */
function renderTree(spans: Span[]): string {
  const ids = new Set(spans.map((s) => s.id));
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number): void => {
    const children = spans.filter((x) =>
      parent === undefined ? !ids.has(x.parent ?? "") : x.parent === parent,
    );
    for (const s of children) {
      lines.push(`${"  ".repeat(depth)}${s.name} [${s.service}] ${s.id} <- ${s.parent ?? "root"}`);
      walk(s.id, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join("\n");
}

describe("traces in Jaeger (examples/shop)", () => {
  let nats: NatsServerHandle;
  let jaeger: JaegerHandle;
  let url: string;
  const procs: [string, TsProcess][] = [];
  let stopping = false;
  /** A process that dies before the teardown is a failure cause: print what it said. */
  const watch = (name: string, p: TsProcess) => {
    void p.exited.then((e) => {
      if (!stopping) console.error(`${name} exited early (${JSON.stringify(e)}):\n${p.output()}`);
    });
    procs.push([name, p]);
    return p;
  };
  const outputs = () =>
    [
      ...procs.map(([name, p]) => `--- ${name} ---\n${p.output()}`),
      `--- jaeger ---\n${jaeger.output()}`,
    ].join("\n");

  before(async () => {
    [nats, jaeger] = await Promise.all([startNatsServer(), startJaeger()]);
    // As README's Traces section: the endpoint turns export on; a short batch delay for the test.
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpUrl, OTEL_BSP_SCHEDULE_DELAY: "100" };
    const port = await freePort();
    const ordersPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    watch(
      "jetstep dev",
      await spawnJetstep(
        nats.url,
        port,
        ["-u", `http://127.0.0.1:${ordersPort}/api/inngest`, "--retry-interval", "0.2"],
        otel,
      ),
    );
    const env = { ...otel, JETSTEP_BASE_URL: url, NATS_URL: nats.url, PORT: String(ordersPort) };
    await startShop(url, env, watch);
  });
  after(async () => {
    stopping = true;
    for (const [, p] of procs.reverse()) await p.kill("SIGKILL");
    await jaeger?.stop();
    await nats?.stop();
  });

  it("shows an order as one trace: run, steps, app spans, invoke and the invoked run under it", async () => {
    let spans: Span[] = [];
    try {
      const [id] = await sendEvents(url, {
        name: "shop/order.placed",
        data: { orderId: "o-trace", sku: "tea", quantity: 1, amount: 12 },
      });
      const [ended] = await waitForEventRuns(url, id as string, 1, 30_000);
      assert.equal(ended?.status, "Completed", JSON.stringify(ended?.error));
      const order = (await getRun(url, (ended as ApiRun).run_id)) as ApiRun & { trace_id: string };
      const chargeRun = await billingRun(url);
      assert.deepEqual(
        order.steps.map((s) => [s.name, s.status]),
        [
          ["reserve-stock", "completed"],
          ["charge-card", "completed"],
          ["announce-confirmed", "completed"],
        ],
      );
      assert.deepEqual(
        chargeRun.steps.map((s) => [s.name, s.status]),
        [
          ["authorize", "completed"],
          ["issue-invoice", "completed"],
          ["announce-invoice", "completed"],
        ],
      );

      // Spans reach Jaeger as each process's batch goes out: poll until the whole tree is in.
      const traceUrl = `${jaeger.queryUrl}/api/traces/${order.trace_id}`;
      const { trace, tree } = await waitFor(
        async () => {
          const res = await fetch(traceUrl);
          if (res.status === 404) return null;
          const t = ((await res.json()) as { data: JaegerTrace[] | null }).data?.[0];
          if (t === undefined) return null;
          spans = spansOf(t);
          return { trace: t, tree: orderTree(spans) };
        },
        { timeoutMs: 20_000, intervalMs: 200, message: `the order's spans in ${traceUrl}` },
      );
      assert.equal(trace.traceID, order.trace_id, "Jaeger's trace is the one GET /v1/runs/:id names");
      const { run, reserve, warehouse, invoke, charge, authorize, card } = tree;

      assert.equal(run.tags["jetstep.run.id"], order.run_id);
      assert.equal(run.tags["jetstep.app.id"], "orders");
      assert.equal(invoke.tags["jetstep.step.name"], "charge-card");
      assert.equal(invoke.tags["jetstep.step.status"], "completed");
      assert.equal(warehouse.tags["shop.sku"], "tea");
      assert.equal(charge.tags["jetstep.run.id"], chargeRun.run_id);
      assert.equal(charge.tags["jetstep.app.id"], "billing");
      assert.equal(card.tags["shop.amount"], 12);

      // Every span of the two runs (discovery calls and the function's last call included) has
      // its parent in the trace. Runs the order's events started later may still be under way.
      const ofRuns = new Set([order.run_id, chargeRun.run_id]);
      for (const s of spans.filter((x) => x !== run && ofRuns.has(String(x.tags["jetstep.run.id"]))))
        assert.ok(
          s.parent !== undefined && spans.some((p) => p.id === s.parent),
          `"${s.name}" has its parent in the trace`,
        );

      // Runtime spans come from jetstep dev, app spans from the service that made them.
      for (const s of [run, reserve, invoke, charge, authorize]) assert.equal(s.service, "jetstep", s.name);
      assert.equal(warehouse.service, "shop-orders");
      assert.equal(card.service, "shop-billing");
    } catch (e) {
      (e as Error).message += `\n--- trace ---\n${renderTree(spans)}\n${outputs()}`;
      throw e;
    }
  });
});

/** billing's charge-card run (the only one: a single order was placed), with its steps. */
async function billingRun(url: string): Promise<ApiRun> {
  const runId = await waitFor(
    async () => {
      const res = await fetch(`${url}/v1/runs?function_id=billing-charge-card&status=Completed`);
      const runs = ((await res.json()) as { data: { run_id: string }[] }).data;
      return runs.length === 1 ? runs[0]?.run_id : undefined;
    },
    { timeoutMs: 10_000, message: "one completed billing-charge-card run in GET /v1/runs" },
  );
  return (await getRun(url, runId)) as ApiRun;
}
