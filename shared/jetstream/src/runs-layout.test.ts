import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RunShards, Streams, Subjects } from "@jetstep/core";
import { type NatsServerHandle, startNatsServer } from "../../../test/support/index.ts";
import { connectNats, type Nats } from "./connection.ts";
import { Publisher } from "./publisher.ts";
import { RunLog } from "./run-log.ts";
import { ensureRunStreams, readRunsLayout, runLocation, runStreams } from "./runs-layout.ts";

const entry = (n: number) => ({ n, ts: n, type: "timer.fired" as const, timerId: `t${n}` });

describe("run log streams (real nats-server)", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let publisher: Publisher;

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
    publisher = new Publisher(nats.nc);
  });
  after(async () => {
    publisher.close();
    await nats.close();
    await server.stop();
  });

  async function dropRunStreams(): Promise<void> {
    for await (const name of nats.jsm.streams.names())
      if (name === Streams.runs || name.startsWith(`${Streams.runs}_`)) await nats.jsm.streams.delete(name);
  }

  it("a new store gets the wanted shards; a later start keeps them whatever it wants", async () => {
    await dropRunStreams();
    assert.deepEqual(await ensureRunStreams(nats.jsm, { replicas: 1, wanted: 3 }), {
      shards: 3,
      replicated: false,
    });
    assert.deepEqual(await ensureRunStreams(nats.jsm, { replicas: 1, wanted: 8 }), {
      shards: 3,
      replicated: false,
    });
    assert.deepEqual(await readRunsLayout(nats.jsm), { shards: 3, replicated: false });
    const names: string[] = [];
    for await (const n of nats.jsm.streams.names()) if (n.startsWith(`${Streams.runs}_`)) names.push(n);
    assert.deepEqual(names.sort(), ["RUNS_0", "RUNS_1", "RUNS_2"]);
  });

  it("processes starting together agree on one count", async () => {
    await dropRunStreams();
    const layouts = await Promise.all(
      [2, 5, 7, 3].map((wanted) => ensureRunStreams(nats.jsm, { replicas: 1, wanted })),
    );
    const counts = new Set(layouts.map((l) => l.shards));
    assert.equal(counts.size, 1, JSON.stringify(layouts));
    const [shards] = [...counts];
    for (const name of runStreams({ shards: shards as number, replicated: false }))
      assert.ok(await nats.jsm.streams.info(name), name);
  });

  it("a missing shard stream is made again from RUNS_0's count", async () => {
    await dropRunStreams();
    await ensureRunStreams(nats.jsm, { replicas: 1, wanted: 4 });
    await nats.jsm.streams.delete(RunShards.stream(2));
    assert.equal((await ensureRunStreams(nats.jsm, { replicas: 1, wanted: 1 })).shards, 4);
    assert.ok(await nats.jsm.streams.info(RunShards.stream(2)));
  });

  it("spreads runs over the shards; each run's log stays in one stream", async () => {
    await dropRunStreams();
    const layout = await ensureRunStreams(nats.jsm, { replicas: 1, wanted: 4 });
    const log = new RunLog(nats.jsm, publisher); // reads the layout itself
    const used = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const runId = `R${i}`;
      const a = await log.append(runId, [entry(1)], 0);
      assert.ok(a.ok, JSON.stringify(a));
      const b = await log.append(runId, [entry(2)], a.seq);
      assert.ok(b.ok, JSON.stringify(b));
      const at = runLocation(layout, runId);
      used.add(at.stream);
      const info = await nats.jsm.streams.getMessage(at.stream, { last_by_subj: at.subject });
      assert.deepEqual(info?.json(), [entry(2)]);
      assert.deepEqual(
        (await log.read(runId)).flatMap((m) => m.entries),
        [entry(1), entry(2)],
      );
    }
    assert.equal(used.size, 4, "40 runs land in every one of 4 shards");
  });

  it("a store made with the single RUNS stream keeps it: logs stay where they are", async () => {
    await dropRunStreams();
    await nats.jsm.streams.add({ name: Streams.runs, subjects: [Subjects.allRuns], allow_direct: true });
    // A run written before the upgrade, at its old subject.
    const old = await publisher.publish(Subjects.run("OLD"), JSON.stringify([entry(1)]));
    assert.ok(old.ok);
    assert.deepEqual(await ensureRunStreams(nats.jsm, { replicas: 1, wanted: 4 }), {
      shards: 0,
      replicated: false,
    });
    for await (const n of nats.jsm.streams.names()) assert.ok(!n.startsWith(`${Streams.runs}_`), n);
    const log = new RunLog(nats.jsm, publisher);
    assert.deepEqual(
      (await log.read("OLD")).flatMap((m) => m.entries),
      [entry(1)],
    );
    const next = await log.append("OLD", [entry(2)], old.ok ? old.seq : 0);
    assert.ok(next.ok, "appends go on at the old subject");
    assert.equal(runLocation(await readRunsLayout(nats.jsm), "OLD").subject, "run.OLD");
  });

  it("rejects a shard count outside 1…64, naming it", async () => {
    await assert.rejects(ensureRunStreams(nats.jsm, { replicas: 1, wanted: 0 }), /run shards .* got 0/);
    await assert.rejects(ensureRunStreams(nats.jsm, { replicas: 1, wanted: 65 }), /run shards .* got 65/);
  });
});
