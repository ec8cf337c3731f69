import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InternalEvents, Keys, type RunContext, replay, Streams, Subjects } from "@jetstep/core";
import {
  ActiveStore,
  connectNats,
  ensureStreams,
  type JetstepBuckets,
  type Nats,
  openBuckets,
  Publisher,
  WaitsStore,
} from "@jetstep/jetstream";
import { type NatsServerHandle, startNatsServer } from "../../../test/support/index.ts";
import { RunEffects } from "./run-effects.ts";

describe("RunEffects (WAITS, invoke events)", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let buckets: JetstepBuckets;
  let publisher: Publisher;
  let effects: RunEffects;
  const event = { id: "evt1", name: "shop/order", data: {}, ts: 1000 };

  /** A run waiting on `wait-a` and invoking `child` (step `inv`). */
  const run = (): RunContext =>
    replay([
      {
        n: 1,
        ts: 1000,
        type: "run.scheduled",
        runId: "RUN1",
        fnId: "app-fn",
        appId: "app",
        url: "http://app",
        maxAttempts: 1,
        partition: 3,
        event,
        events: [event],
      },
      {
        n: 2,
        ts: 2000,
        type: "wait.started",
        stepId: "inv",
        name: "inv",
        event: InternalEvents.functionFinished,
        afterSeq: 0,
        invoke: { functionId: "app-child", data: { x: 1 }, correlationId: "RUN1.inv" },
      },
    ]).context;

  const waitKeys = async () => {
    const keys: string[] = [];
    for await (const k of await buckets.waits.keys()) keys.push(k);
    return keys.sort();
  };
  const invokedCount = async () =>
    (
      await nats.jsm.streams.info(Streams.events, {
        subjects_filter: Subjects.event(InternalEvents.functionInvoked),
      })
    ).state.messages;

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
    await ensureStreams(nats.jsm, { replicas: 1 });
    buckets = await openBuckets(nats, { replicas: 1 });
    publisher = new Publisher(nats.nc);
    effects = new RunEffects({
      nats,
      publisher,
      now: () => 5000,
      active: new ActiveStore(buckets.active, nats, publisher),
      waits: new WaitsStore(buckets.waits, publisher),
    });
  });
  after(async () => {
    publisher.close();
    await nats.close();
    await server.stop();
  });

  it("keeps WAITS equal to the run's open waits, writing only what changed", async () => {
    const ctx = run();
    const a = { waitId: "a", kind: "step" as const, event: "x/a", afterSeq: 0 };
    const b = { waitId: "b", kind: "step" as const, event: "x/b", afterSeq: 0 };
    await effects.syncWaits(ctx, [a, b]);
    assert.deepEqual(await waitKeys(), [Keys.wait("x/a", "RUN1", "a"), Keys.wait("x/b", "RUN1", "b")].sort());
    // A key deleted behind its back is not written again while the run is remembered…
    await buckets.waits.delete(Keys.wait("x/a", "RUN1", "a"));
    await effects.syncWaits(ctx, [a]);
    assert.deepEqual(await waitKeys(), []);
    // …and is once the run is forgotten (a new owner registers what it finds open).
    effects.forget("RUN1");
    await effects.syncWaits(ctx, [a]);
    assert.deepEqual(await waitKeys(), [Keys.wait("x/a", "RUN1", "a")]);
    await effects.syncWaits(ctx, []);
  });

  it("sends each invoke's event once per run, with the caller named in _inngest", async () => {
    const ctx = run();
    await effects.sendInvokes(ctx);
    await effects.sendInvokes(ctx);
    assert.equal(await invokedCount(), 1);
    const m = await nats.jsm.streams.getMessage(Streams.events, {
      last_by_subj: Subjects.event(InternalEvents.functionInvoked),
    });
    const sent = m?.json<{ data: Record<string, unknown> }>();
    assert.deepEqual(sent?.data, {
      x: 1,
      _inngest: {
        fn_id: "app-child",
        correlation_id: "RUN1.inv",
        source_run_id: "RUN1",
        source_fn_id: "app-fn",
      },
    });
    // Forgotten (the run ended), a resend is the same event id: the stream keeps one.
    effects.forget("RUN1");
    await effects.sendInvokes(ctx);
    assert.equal(await invokedCount(), 1);
  });
});
