/**
 * A run the executor cannot move on (here: its log holds a message that cannot be replayed) is
 * retried, and once it has failed for `stuckAfterMs` it is listed as `Stuck` with the reason, in
 * `GET /v1/runs?status=Stuck` and in `GET /v1/runs/:id`, never silently `Running`. Once the cause is
 * gone (the bad message removed), it is resumed, listed as running again and completes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ActiveRun, Keys, type RunLogEntry, Subjects, ulid } from "@jetstep/core";
import { connectNats, type Nats, openBuckets, Publisher, RunLog } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { type ServedApp, type Stack, startApp, startStack } from "./harness.ts";

interface ListedRun {
  run_id: string;
  status: string;
  stuck_reason?: string;
}

describe("stuck runs", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let nats: Nats;
  let appUrl = "";

  before(async () => {
    stack = await startStack({ reconcileMs: 300, stuckAfterMs: 1500 });
    const client = new Jetstep({ id: "stuck", baseUrl: stack.url });
    const fn = client.createFunction({ id: "fn" }, { event: "stuck/never-sent" }, async ({ step }) =>
      step.run("only", () => "moved on"),
    );
    app = await startApp(stack.url, "stuck", serve({ client, functions: [fn] }));
    appUrl = app.url;
    nats = await connectNats({ servers: stack.nats.url });
  });
  after(async () => {
    await app?.close();
    await nats?.close();
    await stack?.stop();
  });

  const listed = async (status: string): Promise<ListedRun[]> => {
    const r = await fetch(`${stack.url}/v1/runs?status=${status}`);
    assert.equal(r.status, 200);
    return ((await r.json()) as { data: ListedRun[] }).data;
  };

  it("lists a run it keeps failing to resume as Stuck with the reason, and as running once it moves on", async () => {
    const runId = ulid(Date.now(), Math.random);
    const partition = stack.runtime.executor.ownedPartitions()[0] as number;
    const now = Date.now();
    const event = { id: `evt-${runId}`, name: "stuck/never-sent", data: {}, ts: now };
    const scheduled: RunLogEntry = {
      n: 1,
      ts: now,
      type: "run.scheduled",
      runId,
      fnId: "stuck-fn",
      appId: "stuck",
      url: `${appUrl}?fnId=stuck-fn&stepId=step`,
      maxAttempts: 1,
      partition,
      event,
      events: [event],
    };
    const publisher = new Publisher(nats.nc);
    const runLog = new RunLog(nats.jsm, publisher);
    const first = await runLog.append(runId, [scheduled], 0);
    assert.ok(first.ok);
    // Listed as running, as the executor lists a run it starts.
    await publisher.publish(
      Subjects.runIndex(runId),
      JSON.stringify({ runId, fnId: "stuck-fn", appId: "stuck", status: "Running", startedAt: now }),
    );
    // A message that is not a list of entries: the run's log cannot be replayed.
    const bad = await runLog.appendJson(runId, "poison", '{"not":"entries"}', first.seq);
    assert.ok(bad.ok);
    const buckets = await openBuckets(nats, { replicas: 1 });
    const marker: ActiveRun = { fnId: "stuck-fn", createdAt: now };
    await buckets.active.put(Keys.active(partition, runId), JSON.stringify(marker));

    const stuck = await waitFor(async () => (await listed("Stuck")).find((r) => r.run_id === runId) ?? null, {
      timeoutMs: 20_000,
      message: "the run was never listed as stuck",
    });
    assert.match(stuck.stuck_reason ?? "", /^resume: .*not a list of entries/);
    assert.ok(!(await listed("Running")).some((r) => r.run_id === runId), "listed as running too");
    const detail = await fetch(`${stack.url}/v1/runs/${runId}`);
    assert.equal(detail.status, 200);
    const view = ((await detail.json()) as { data: { status: string; stuck?: { reason: string } } }).data;
    assert.equal(view.status, "Stuck");
    assert.match(view.stuck?.reason ?? "", /not a list of entries/);

    // The cause removed: the next retry resumes the run, which completes.
    await nats.jsm.streams.deleteMessage(bad.stream, bad.seq);
    await waitFor(
      async () => {
        const r = await fetch(`${stack.url}/v1/runs/${runId}`);
        const body = (await r.json()) as { data?: { status: string; output?: unknown } };
        return body.data?.status === "Completed" && body.data.output === "moved on";
      },
      { timeoutMs: 40_000, message: "the run did not complete once it could be read again" },
    );
    assert.ok(!(await listed("Stuck")).some((r) => r.run_id === runId), "still listed as stuck");
    publisher.close();
  });
});
