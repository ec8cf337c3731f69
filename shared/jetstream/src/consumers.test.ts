import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Consumers, Streams, Subjects } from "@jetstep/core";
import { AckPolicy, type JsMsg } from "@nats-io/jetstream";
import { type NatsServerHandle, startNatsServer } from "../../../test/support/index.ts";
import { connectNats, type Nats } from "./connection.ts";
import { ACK_WAIT_MS, InProgress, inboxConsumer } from "./consumers.ts";
import { ensureStreams } from "./streams.ts";

describe("durable consumers", () => {
  let server: NatsServerHandle;
  let nats: Nats;

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
    await ensureStreams(nats.jsm, { replicas: 1 });
  });
  after(async () => {
    await nats?.close();
    await server?.stop();
  });

  it("brings a consumer an older version made up to the current ack wait", async () => {
    await nats.jsm.consumers.add(Streams.inbox, {
      durable_name: Consumers.inbox(3),
      ack_policy: AckPolicy.Explicit,
      ack_wait: 30_000_000_000,
      filter_subject: Subjects.inbox(3),
    });
    await inboxConsumer(nats.js, nats.jsm, 3);
    const info = await nats.jsm.consumers.info(Streams.inbox, Consumers.inbox(3));
    assert.equal(info.config.ack_wait, ACK_WAIT_MS * 1_000_000);
  });
});

describe("InProgress", () => {
  it("reports only what has been held a third of the ack wait, until released", () => {
    let now = 0;
    const worked: string[] = [];
    const msg = (id: string) => ({ working: () => worked.push(id) }) as unknown as JsMsg;
    const p = new InProgress(9000, () => now);
    const slow = msg("slow");
    const quick = msg("quick");
    p.hold(slow);
    now += 2000;
    p.hold(quick);
    now += 1000;
    p.tick();
    assert.deepEqual(worked, ["slow"]);
    p.release(quick);
    now += 3000;
    p.tick();
    assert.deepEqual(worked, ["slow", "slow"]);
    p.release(slow);
    assert.equal(p.size, 0);
    p.tick();
    assert.deepEqual(worked, ["slow", "slow"]);
  });
});
