/**
 * Cron triggers (seconds-granularity schedule, two Jetstep processes' schedulers up: one run per
 * slot) and `timeouts.start` / `timeouts.finish`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SpanKind, trace } from "@opentelemetry/api";
import { tracing } from "@opentelemetry/sdk-node";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { type ServedApp, type Stack, sendEvents, startApp, startStack, waitForEventRuns } from "./harness.ts";

// The executors (in this process) make a span per call to the app, ended once its answer was
// handled (recorded, or dropped): kept here.
const spans = new tracing.InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new tracing.BasicTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(spans)] }),
);

describe("cron and timeouts", () => {
  let first: Stack;
  let second: Stack;
  let app: ServedApp | undefined;
  const slots: { eventId: string; ts: number; cron: unknown }[] = [];

  before(async () => {
    first = await startStack({ leaseTtlMs: 2000 });
    second = await startStack({ nats: first.nats, leaseTtlMs: 2000 });
    // The app talks to `second` (registration, checkpoints): `first` is stopped and replaced below.
    const client = new Jetstep({ id: "timed", baseUrl: second.url });
    const ticker = client.createFunction(
      { id: "ticker" },
      { cron: "*/2 * * * * *" },
      async ({ event, step }) => {
        await step.run("record", () => {
          slots.push({ eventId: event.id as string, ts: event.ts as number, cron: event.data.cron });
        });
      },
    );
    const tooLong = client.createFunction(
      { id: "too-long", timeouts: { finish: "1500ms" } },
      { event: "timed/long" },
      async ({ step }) => {
        await step.run("begin", () => 1);
        await step.sleep("forever", "30s");
        await step.run("never", () => 2);
      },
    );
    const slowStart = client.createFunction(
      { id: "slow-start", timeouts: { start: "1s" } },
      { event: "timed/slow" },
      async ({ step }) => {
        // Work in the app that outlasts timeouts.start: what is being timed, not a wait.
        await new Promise((r) => setTimeout(r, 2500));
        return step.run("late", () => "too late");
      },
    );
    app = await startApp(second.url, "timed", serve({ client, functions: [ticker, tooLong, slowStart] }));
  });
  after(async () => {
    await app?.close();
    await second?.stop();
    await first?.stop();
  });

  it("fires one run per cron slot with two schedulers up, and across a leader change", async () => {
    await waitFor(() => slots.length >= 3, { timeoutMs: 15_000, message: "cron did not fire 3 times" });
    // Stop whichever scheduler leads; the other takes over after the lease expires.
    await first.runtime.stop().catch(() => undefined);
    const before = slots.length;
    await waitFor(() => slots.length >= before + 2, {
      timeoutMs: 15_000,
      message: "cron stopped after the leader left",
    });
    const ts = slots.map((s) => s.ts);
    assert.equal(new Set(ts).size, ts.length, `a slot ran twice: ${ts.join(", ")}`);
    for (const t of ts) assert.equal(t % 2000, 0, "runs carry their slot's time");
    assert.equal(slots[0]?.cron, "*/2 * * * * *");
    // Re-open `first` for the other tests and for after().
    first = await startStack({ nats: first.nats, leaseTtlMs: 2000 });
  });

  it("cancels a run that does not finish within timeouts.finish", async () => {
    const [id] = await sendEvents(second.url, { name: "timed/long", data: {} });
    const [run] = await waitForEventRuns(second.url, id as string, 1, 15_000);
    assert.equal(run?.status, "Cancelled");
    const full = (await (await fetch(`${second.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: { cancel_reason: string };
    };
    assert.match(full.data.cancel_reason, /not finished within 1500ms \(timeouts\.finish\)/);
    assert.deepEqual(
      run?.steps.map((s) => s.name),
      ["begin", "forever"],
    );
  });

  it("cancels a run that does not start within timeouts.start", async () => {
    const [id] = await sendEvents(second.url, { name: "timed/slow", data: {} });
    const [run] = await waitForEventRuns(second.url, id as string, 1, 15_000);
    assert.equal(run?.status, "Cancelled");
    const full = (await (await fetch(`${second.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: { cancel_reason: string };
    };
    assert.match(full.data.cancel_reason, /not started within 1s \(timeouts\.start\)/);
    // The late answer came back and was handled: the call's span ended.
    await waitFor(
      () =>
        spans
          .getFinishedSpans()
          .some((x) => x.kind === SpanKind.CLIENT && x.attributes["jetstep.run.id"] === run?.run_id),
      { timeoutMs: 15_000, message: "the late answer was never handled" },
    );
    const later = (await (await fetch(`${second.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: { status: string; steps: unknown[] };
    };
    assert.equal(later.data.status, "Cancelled");
    assert.deepEqual(later.data.steps, [], "the late answer is not recorded");
  });
});
