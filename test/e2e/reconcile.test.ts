/**
 * Liveness safety net: a run that is recorded and marked due, but whose wake-up was lost (here:
 * no INBOX command at all, as if its ack and redelivery were lost in an outage), is still resumed
 * by the executor's periodic reconcile and completes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ActiveRun, Keys, type RunLogEntry, ulid } from "@jetstep/core";
import { connectNats, type Nats, openBuckets, Publisher, RunLog } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { getRun, type ServedApp, type Stack, startApp, startStack } from "./harness.ts";

describe("executor reconcile", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let nats: Nats;
  let appUrl = "";

  before(async () => {
    stack = await startStack({ reconcileMs: 300 });
    const client = new Jetstep({ id: "lost", baseUrl: stack.url });
    const fn = client.createFunction({ id: "wake" }, { event: "lost/never-sent" }, async ({ step }) =>
      step.run("only", () => "woke up"),
    );
    app = await startApp(stack.url, "lost", serve({ client, functions: [fn] }));
    appUrl = app.url;
    nats = await connectNats({ servers: stack.nats.url });
  });
  after(async () => {
    await app?.close();
    await nats?.close();
    await stack?.stop();
  });

  it("resumes a due run whose wake-up was lost", async () => {
    const runId = ulid(Date.now(), Math.random);
    const partition = stack.runtime.executor.ownedPartitions()[0] as number;
    const now = Date.now();
    const scheduled: RunLogEntry = {
      n: 1,
      ts: now,
      type: "run.scheduled",
      runId,
      fnId: "lost-wake",
      appId: "lost",
      url: `${appUrl}?fnId=lost-wake&stepId=step`,
      maxAttempts: 1,
      partition,
      event: { id: `evt-${runId}`, name: "lost/never-sent", data: {}, ts: now },
      events: [{ id: `evt-${runId}`, name: "lost/never-sent", data: {}, ts: now }],
    };
    const publisher = new Publisher(nats.nc);
    const appended = await new RunLog(nats.jsm, publisher).append(runId, [scheduled], 0);
    assert.ok(appended.ok);
    const buckets = await openBuckets(nats, { replicas: 1 });
    const marker: ActiveRun = { fnId: "lost-wake", createdAt: now };
    await buckets.active.put(Keys.active(partition, runId), JSON.stringify(marker));
    publisher.close();

    const run = await waitFor(
      async () => {
        const r = await getRun(stack.url, runId);
        return r?.status === "Completed" ? r : null;
      },
      { timeoutMs: 15_000, message: "the due run was never resumed" },
    );
    assert.equal(run.output, "woke up");
  });
});
