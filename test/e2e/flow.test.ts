/** rateLimit (drops recorded per event), throttle (spaced starts, none dropped), singleton skip/cancel. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import {
  freePort,
  type NatsServerHandle,
  type OtlpReceiver,
  startNatsServer,
  startOtlpReceiver,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import {
  type ApiRun,
  eventRuns,
  type ServedApp,
  sendEvents,
  serveApp,
  spawnJetstep,
  waitForApp,
  waitForEventRuns,
  waitForEventsMatched,
  waitForPartitionSplit,
} from "./harness.ts";

describe("rateLimit, throttle, singleton", () => {
  let nats: NatsServerHandle;
  const procs: TsProcess[] = [];
  let url = "";
  let app: ServedApp | undefined;
  let receiver: OtlpReceiver;
  const throttledStarts: number[] = [];
  const throttledOrder: number[] = [];
  const slowStarts: { i: number; at: number }[] = [];
  const rated: unknown[] = [];

  before(async () => {
    // Two Jetstep processes: their matchers share the event stream, so flow-control state must
    // hold across processes.
    nats = await startNatsServer();
    // Both processes export their spans here: an attempt span starts when the executor sent the call.
    receiver = await startOtlpReceiver();
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    const ports = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${ports[0]}`;
    const client = new Jetstep({ id: "flow", baseUrl: url });
    const limited = client.createFunction(
      { id: "rate-limited", rateLimit: { limit: 2, period: "10s", key: "event.data.user" } },
      { event: "flow/rate" },
      async ({ event }) => {
        rated.push(event.data.i);
      },
    );
    const throttled = client.createFunction(
      { id: "throttled", throttle: { limit: 2, period: "2s" } },
      { event: "flow/throttle" },
      async ({ event, step }) => {
        await step.run("start", () => {
          throttledOrder.push(event.data.i as number);
          return throttledStarts.push(Date.now());
        });
      },
    );
    const slow = client.createFunction(
      { id: "throttled-slow", throttle: { limit: 1, period: "5s" } },
      { event: "flow/throttle-cancel" },
      async ({ event, step }) => {
        await step.run("start", () => slowStarts.push({ i: event.data.i as number, at: Date.now() }));
      },
    );
    const single = client.createFunction(
      { id: "single", singleton: { key: "event.data.k", mode: "skip" } },
      { event: "flow/single" },
      async ({ step }) => {
        await step.sleep("hold", "2s");
      },
    );
    const replacing = client.createFunction(
      { id: "replacing", singleton: { key: "event.data.k", mode: "cancel" } },
      { event: "flow/replace" },
      async ({ step }) => {
        await step.sleep("hold", "4s");
        return "finished";
      },
    );
    app = await serveApp(serve({ client, functions: [limited, throttled, slow, single, replacing] }));
    const appUrl = app.url;
    for (const port of ports)
      procs.push(await spawnJetstep(nats.url, port, ["-u", appUrl, "--lease-ttl", "2s"], otel));
    await waitForApp(url, "flow");
    await waitForPartitionSplit(nats.url, 2);
  });
  after(async () => {
    await app?.close();
    receiver?.server.close();
    for (const p of procs) await p.kill("SIGKILL");
    await nats?.stop();
  });

  const skippedOf = async (id: string) =>
    waitFor(
      async () => {
        const r = await fetch(`${url}/v1/events/${id}/runs`);
        return r.status === 200
          ? ((await r.json()) as { data: ApiRun[]; skipped?: { reason: string }[] })
          : null;
      },
      { timeoutMs: 10_000 },
    );

  it("starts no run beyond the rate limit and records the skip on the event; keys are separate", async () => {
    const ids = await sendEvents(url, [
      ...Array.from({ length: 5 }, (_, i) => ({ name: "flow/rate", data: { user: "a", i } })),
      { name: "flow/rate", data: { user: "b", i: 99 } },
    ]);
    await waitFor(() => new Set(rated).size >= 3, { timeoutMs: 10_000 });
    // Every event decided (started or skipped), and every run one started has ended: nothing
    // else can run now.
    await waitForEventsMatched(nats.url);
    for (const id of ids) {
      const started = (await eventRuns(url, id))?.length ?? 0;
      if (started > 0) await waitForEventRuns(url, id, started, 10_000);
    }
    assert.equal(new Set(rated).size, 3, `ran ${JSON.stringify(rated)}`);
    assert.ok(rated.includes(99));
    let skippedCount = 0;
    for (const id of ids) {
      const res = await skippedOf(id);
      if (res.skipped?.some((s) => /rateLimit/.test(s.reason))) skippedCount++;
    }
    assert.equal(skippedCount, 3);
  });

  it("spaces throttled starts period/limit apart, in arrival order, and drops none", async () => {
    const ids = await sendEvents(
      url,
      Array.from({ length: 4 }, (_, i) => ({ name: "flow/throttle", data: { i } })),
    );
    const runIds: string[] = [];
    for (const id of ids) runIds.push(...(await waitForEventRuns(url, id, 1, 20_000)).map((r) => r.run_id));
    assert.equal(throttledStarts.length, 4);
    // Where the limit is applied: each run's first call went out a full interval after the one
    // before (by the executors' attempt spans), however late a timer fired or a start went out
    // under load. The app's own times below also carry the HTTP delivery, which load can delay.
    const firstCall = (runId: string) =>
      receiver.spans
        .filter((x) => x.kind === 3 && x.attributes["jetstep.run.id"] === runId)
        .reduce<bigint | undefined>(
          (min, x) => (min === undefined || x.start < min ? x.start : min),
          undefined,
        );
    const sent = await waitFor(
      () => {
        const starts = runIds.map(firstCall);
        return starts.every((x) => x !== undefined) ? (starts as bigint[]) : null;
      },
      { timeoutMs: 10_000, message: "the executors' attempt spans did not arrive" },
    );
    sent.sort((a, b) => (a < b ? -1 : 1));
    for (let i = 1; i < sent.length; i++) {
      const gapMs = Number(((sent[i] as bigint) - (sent[i - 1] as bigint)) / 1_000_000n);
      assert.ok(gapMs >= 1000, `calls ${i - 1} and ${i} went out only ${gapMs} ms apart`);
    }
    // Runs start in the order their events arrived (each waits its turn in the key's queue).
    assert.deepEqual(throttledOrder, [0, 1, 2, 3]);
    const sorted = [...throttledStarts].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) {
      const gap = (sorted[i] as number) - (sorted[i - 1] as number);
      assert.ok(gap >= 800, `starts ${i - 1} and ${i} only ${gap} ms apart`);
    }
    const total = (sorted.at(-1) as number) - (sorted[0] as number);
    assert.ok(total >= 2700 && total < 6000, `4 starts spread over ${total} ms (expected ~3 s)`);
  });

  it("lets the next throttled run go when one waiting in the queue is cancelled", async () => {
    const ids = await sendEvents(
      url,
      [0, 1, 2].map((i) => ({ name: "flow/throttle-cancel", data: { i } })),
    );
    await waitFor(() => slowStarts.length === 1, {
      timeoutMs: 20_000,
      message: "the first run did not start",
    });
    // The second waits a full period (5 s) for its start: cancel it while it waits in the queue.
    const [second] = await waitFor(async () => (await eventRuns(url, ids[1] as string))?.slice(0, 1), {
      timeoutMs: 10_000,
      message: "the second run was not made",
    });
    const res = await fetch(`${url}/v1/runs/${second?.run_id}`, { method: "DELETE" });
    assert.ok(res.status === 200 || res.status === 202, `cancel answered ${res.status}`);
    const [third] = await waitForEventRuns(url, ids[2] as string, 1, 30_000);
    assert.equal(third?.status, "Completed");
    assert.equal((await waitForEventRuns(url, ids[1] as string, 1, 10_000))[0]?.status, "Cancelled");
    assert.deepEqual(
      slowStarts.map((s) => s.i),
      [0, 2],
    );
    // The cancelled run left the queue at once: the third started on the next slot, not after the
    // stale-head check (30 s) would have taken the cancelled one out.
    const gap = (slowStarts[1]?.at as number) - (slowStarts[0]?.at as number);
    assert.ok(gap >= 4000 && gap < 20_000, `the third started ${gap} ms after the first`);
  });

  it("singleton skip: a second event for an active key starts nothing; after it ends, a new one runs", async () => {
    const [a] = await sendEvents(url, { name: "flow/single", data: { k: "x" } });
    await waitFor(async () => (await eventRuns(url, a as string))?.length === 1, { timeoutMs: 10_000 });
    const [b] = await sendEvents(url, { name: "flow/single", data: { k: "x" } });
    const [other] = await sendEvents(url, { name: "flow/single", data: { k: "y" } });
    const skipped = await skippedOf(b as string);
    assert.deepEqual(skipped.data, []);
    assert.match(skipped.skipped?.[0]?.reason ?? "", /singleton/);
    assert.equal((await waitForEventRuns(url, other as string, 1, 15_000))[0]?.status, "Completed");
    await waitForEventRuns(url, a as string, 1, 15_000);
    const [c] = await sendEvents(url, { name: "flow/single", data: { k: "x" } });
    assert.equal((await waitForEventRuns(url, c as string, 1, 15_000))[0]?.status, "Completed");
  });

  it("singleton cancel: a newcomer cancels the active run of its key", async () => {
    const [first] = await sendEvents(url, { name: "flow/replace", data: { k: "z" } });
    await waitFor(async () => (await eventRuns(url, first as string))?.[0]?.status === "Running", {
      timeoutMs: 10_000,
    });
    const [second] = await sendEvents(url, { name: "flow/replace", data: { k: "z" } });
    const [old] = await waitForEventRuns(url, first as string, 1, 15_000);
    assert.equal(old?.status, "Cancelled");
    const [fresh] = await waitForEventRuns(url, second as string, 1, 15_000);
    assert.equal(fresh?.status, "Completed");
  });
});
