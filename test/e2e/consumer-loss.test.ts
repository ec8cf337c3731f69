/**
 * Consumers can vanish under a running Jetstep (an operator deletes them, or they are lost with a
 * node): the matcher's EVENTS consumer and every partition's INBOX consumer are deleted, and
 * events sent afterwards must still produce completed runs — the services make their consumers
 * again instead of silently consuming nothing. A partition reloaded that way while a step is in
 * flight records that step's answer when it comes: the step is not called again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Streams } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { type ServedApp, type Stack, sendEvents, startApp, startStack, waitForEventRuns } from "./harness.ts";

describe("consumer loss", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let nats: Nats;
  /** Executions of the slow step, and a gate that holds the first one until the test opens it. */
  let slowRuns = 0;
  let openGate: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    openGate = resolve;
  });

  before(async () => {
    stack = await startStack();
    const client = new Jetstep({ id: "resilient", baseUrl: stack.url });
    const fn = client.createFunction({ id: "echo" }, { event: "resilient/go" }, async ({ event, step }) =>
      step.run("echo", () => Number(event.data.i)),
    );
    const slow = client.createFunction({ id: "slow" }, { event: "resilient/slow" }, async ({ step }) => {
      const n = await step.run("slow", async () => {
        slowRuns++;
        await gate;
        return slowRuns;
      });
      return { n };
    });
    app = await startApp(stack.url, "resilient", serve({ client, functions: [fn, slow] }));
    nats = await connectNats({ servers: stack.nats.url });
  });
  after(async () => {
    await app?.close();
    await nats?.close();
    await stack?.stop();
  });

  it("makes deleted EVENTS and INBOX consumers again; later events still complete", async () => {
    const [first] = await sendEvents(stack.url, { name: "resilient/go", data: { i: 1 } });
    assert.equal((await waitForEventRuns(stack.url, first as string, 1, 15_000))[0]?.status, "Completed");

    for (const stream of [Streams.events, Streams.inbox]) {
      for await (const c of nats.jsm.consumers.list(stream)) await nats.jsm.consumers.delete(stream, c.name);
    }
    const ids = await sendEvents(
      stack.url,
      Array.from({ length: 20 }, (_, i) => ({ name: "resilient/go", data: { i } })),
    );
    for (const [i, id] of ids.entries()) {
      const [run] = await waitForEventRuns(stack.url, id, 1, 30_000);
      assert.equal(run?.status, "Completed");
      assert.equal(run?.output, i);
    }
  });

  it("a step in flight while its partition is reloaded runs once: its answer is recorded", async () => {
    const [id] = await sendEvents(stack.url, { name: "resilient/slow", data: {} });
    await waitFor(() => slowRuns === 1, { timeoutMs: 15_000, message: "the slow step never started" });
    // Every partition's consumer goes: the executor reloads each partition (gives it up and takes
    // it back) while the step is still running in the app.
    const consumers = async () => {
      const names: string[] = [];
      for await (const c of nats.jsm.consumers.list(Streams.inbox)) names.push(c.name);
      return names;
    };
    const before = await consumers();
    for (const name of before) await nats.jsm.consumers.delete(Streams.inbox, name);
    // Each partition makes its consumer again once it has been given up and taken back.
    await waitFor(async () => (await consumers()).length === before.length, {
      timeoutMs: 30_000,
      message: "the partitions were not reloaded",
    });
    openGate();
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 30_000);
    assert.equal(run?.status, "Completed");
    assert.deepEqual(run?.output, { n: 1 });
    assert.equal(slowRuns, 1, "the step was called again after the reload");
  });
});
