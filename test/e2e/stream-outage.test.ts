/**
 * RUNS cannot take writes for a while (as when its cluster node is lost and a new leader is being
 * elected: publishes get 503 no responders): the executor keeps the app's answer and appends it
 * once RUNS is back, so the step whose answer came during the outage does not run again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectNats, type Nats, readRunsLayout, runStreams } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { type ServedApp, type Stack, sendEvents, startApp, startStack, waitForEventRuns } from "./harness.ts";

const OUTAGE_MS = 2_500;

describe("RUNS unavailable for a while", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let nats: Nats;
  const executions: string[] = [];
  let stepStarted: () => void = () => {};
  let releaseStep: () => void = () => {};

  before(async () => {
    stack = await startStack();
    nats = await connectNats({ servers: stack.nats.url });
    const client = new Jetstep({ id: "outage", baseUrl: stack.url });
    const fn = client.createFunction(
      { id: "outage", retries: 0 },
      { event: "outage/go" },
      async ({ step }) => {
        const a = await step.run("during-outage", async () => {
          executions.push("during-outage");
          if (executions.length === 1) {
            stepStarted();
            await new Promise<void>((r) => {
              releaseStep = r;
            });
          }
          return 21;
        });
        return step.run("after", () => {
          executions.push("after");
          return a * 2;
        });
      },
    );
    app = await startApp(stack.url, "outage", serve({ client, functions: [fn] }));
  });
  after(async () => {
    await app?.close();
    await nats?.close();
    await stack?.stop();
  });

  it("appends the answer that arrived during the outage once RUNS is back; the step runs once", async () => {
    const started = new Promise<void>((r) => {
      stepStarted = r;
    });
    const [id] = await sendEvents(stack.url, { name: "outage/go" });
    await started;
    // Take the run streams off their subjects: appends now get 503 no responders, as with no
    // stream leader.
    const layout = await readRunsLayout(nats.jsm);
    const infos = await Promise.all(runStreams(layout).map((name) => nats.jsm.streams.info(name)));
    for (const [k, info] of infos.entries())
      await nats.jsm.streams.update(info.config.name, { ...info.config, subjects: [`run-outage.${k}.>`] });
    releaseStep();
    // The outage lasts longer than the 1 s after which a run whose answer could not be recorded
    // is retried (the step would then run again, as it did before appends were retried).
    // A fixed-length outage is what is tested here, not a wait for a condition.
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    for (const info of infos) await nats.jsm.streams.update(info.config.name, info.config);
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 30_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    assert.equal(run?.output, 42);
    assert.deepEqual(executions, ["during-outage", "after"], "no step ran twice");
  });
});
