/** debounce (last event after a quiet period; timeout caps the wait) and priority under a backlog. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Buckets } from "@jetstep/core";
import { connectNats, listKvKeys, openBuckets } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import {
  freePort,
  type NatsServerHandle,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import {
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

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until DEBOUNCES holds no window: each was flushed (its run started) and removed. */
async function waitForNoDebounces(natsUrl: string): Promise<void> {
  const nc = await connectNats({ servers: natsUrl });
  try {
    await openBuckets(nc, { replicas: 1 });
    await waitFor(async () => (await listKvKeys(nc.js, Buckets.debounces, ">")).length === 0, {
      timeoutMs: 10_000,
      message: "debounce windows still open",
    });
  } finally {
    await nc.close();
  }
}

describe("debounce and priority", () => {
  let nats: NatsServerHandle;
  const procs: TsProcess[] = [];
  let url = "";
  let app: ServedApp | undefined;
  const debounced: { k: unknown; n: unknown; at: number }[] = [];
  const order: string[] = [];
  /** The first job holds the function's one concurrency slot until the test lets it go. */
  let releaseFirst: () => void = () => undefined;
  const firstHeld = new Promise<void>((r) => {
    releaseFirst = r;
  });

  before(async () => {
    // Two Jetstep processes: both matchers see the events, so debounce state must hold across them.
    nats = await startNatsServer();
    const ports = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${ports[0]}`;
    const client = new Jetstep({ id: "quiet", baseUrl: url });
    const settle = client.createFunction(
      { id: "settle", debounce: { period: "1s", key: "event.data.k", timeout: "2500ms" } },
      { event: "quiet/change" },
      async ({ event }) => {
        debounced.push({ k: event.data.k, n: event.data.n, at: Date.now() });
      },
    );
    const ordered = client.createFunction(
      { id: "ordered", concurrency: 1, priority: { run: "event.data.prio" } },
      { event: "quiet/job" },
      async ({ event, step }) => {
        await step.run("work", async () => {
          order.push(event.data.name as string);
          if (event.data.name === "first") await firstHeld;
        });
      },
    );
    app = await serveApp(serve({ client, functions: [settle, ordered] }));
    const appUrl = app.url;
    for (const port of ports)
      procs.push(await spawnJetstep(nats.url, port, ["-u", appUrl, "--lease-ttl", "2s"]));
    await waitForApp(url, "quiet");
    await waitForPartitionSplit(nats.url, 2);
  });
  after(async () => {
    await app?.close();
    for (const p of procs) await p.kill("SIGKILL");
    await nats?.stop();
  });

  it("starts one run with the last event once the key has been quiet for the period", async () => {
    const ofA: string[] = [];
    for (let n = 1; n <= 3; n++) {
      ofA.push(...(await sendEvents(url, { name: "quiet/change", data: { k: "a", n } })));
      // The input's spacing (inside the 1 s period): what is debounced, not a wait for anything.
      await pause(150);
    }
    await sendEvents(url, { name: "quiet/change", data: { k: "b", n: 1 } });
    await waitFor(
      () => debounced.filter((d) => d.k === "a").length === 1 && debounced.some((d) => d.k === "b"),
      {
        timeoutMs: 10_000,
      },
    );
    // Every event handled and every debounce window closed (its run started and added to its
    // event's index): no other run of "a" can start now. Only the last event of "a" started one.
    await waitForEventsMatched(nats.url);
    await waitForNoDebounces(nats.url);
    const started = await Promise.all(ofA.map(async (id) => (await eventRuns(url, id))?.length));
    assert.deepEqual(started, [0, 0, 1], "runs started by each event of a");
    await waitForEventRuns(url, ofA[2] as string);
    assert.deepEqual(
      debounced.filter((d) => d.k === "a").map((d) => d.n),
      [3],
    );
  });

  it("does not wait longer than timeout after the first event, even if events keep coming", async () => {
    const sentAt: number[] = [];
    for (let n = 1; n <= 12; n++) {
      sentAt.push(Date.now());
      await sendEvents(url, { name: "quiet/change", data: { k: "busy", n } });
      // The input's spacing (inside the 1 s period, for longer than the timeout): not a wait.
      await pause(350);
    }
    await waitFor(() => debounced.filter((d) => d.k === "busy").length >= 2, { timeoutMs: 10_000 });
    const first = debounced.find((d) => d.k === "busy");
    assert.ok(
      first && first.at < (sentAt.at(-1) as number),
      "a run started while events were still arriving",
    );
  });

  it("starts higher-priority work ahead of work queued earlier", async () => {
    await sendEvents(url, { name: "quiet/job", data: { name: "first", prio: 0 } });
    await waitFor(() => order.includes("first"), { timeoutMs: 10_000 });
    for (const name of ["low1", "low2", "low3"])
      await sendEvents(url, { name: "quiet/job", data: { name, prio: 0 } });
    await sendEvents(url, { name: "quiet/job", data: { name: "urgent", prio: 60 } });
    // All four are started (listed as running: their calls wait for the slot) before it frees.
    await waitFor(
      async () => {
        const res = await fetch(`${url}/v1/runs?function_id=quiet-ordered&status=Running`);
        return ((await res.json()) as { data: unknown[] }).data.length === 5;
      },
      { timeoutMs: 20_000, message: "the queued jobs never started" },
    );
    releaseFirst();
    await waitFor(() => order.length === 5, { timeoutMs: 20_000 });
    assert.equal(order[0], "first");
    assert.equal(order[1], "urgent", `order: ${order.join(", ")}`);
  });
});
