/**
 * An answer that comes back while the executor's partitions are someone else's for longer than a
 * lease TTL is kept, and recorded once the partitions are taken back: the step is not run again.
 * (Seen in the loaded test runs: a lone executor's leases lapsed under CPU starvation and were
 * retaken more than one TTL later; the answer was dropped and the retaken run called its step
 * again.)
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Buckets, Keys } from "@jetstep/core";
import { connectNats, type Nats, writeExpiring } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { freePort, type NatsServerHandle, startNatsServer, type TsProcess } from "../support/index.ts";
import {
  type ServedApp,
  sendEvents,
  serveApp,
  spawnJetstep,
  waitForApp,
  waitForEventRuns,
} from "./harness.ts";

const PARTITIONS = 16;

describe("an answer held across a lease gap", () => {
  let nats: NatsServerHandle;
  let client: Nats;
  let jetstep: TsProcess;
  let app: ServedApp;
  let url = "";
  let slowRuns = 0;
  let started: () => void = () => undefined;
  let open: () => void = () => undefined;

  before(async () => {
    nats = await startNatsServer();
    client = await connectNats({ servers: nats.url, name: "lease-gap-test" });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const sdk = new Jetstep({ id: "gap", baseUrl: url });
    const fn = sdk.createFunction({ id: "slow" }, { event: "gap/go" }, async ({ step }) => {
      await step.run("slow", async () => {
        slowRuns++;
        started();
        // The first call waits for the test; a second one (the bug) answers at once.
        if (slowRuns === 1)
          await new Promise<void>((r) => {
            open = r;
          });
        return "done";
      });
    });
    app = await serveApp(serve({ client: sdk, functions: [fn] }));
    jetstep = await spawnJetstep(nats.url, port, ["-u", app.url, "--lease-ttl", "1s"]);
    await waitForApp(url, "gap");
  });
  after(async () => {
    open();
    await app?.close();
    await jetstep?.kill("SIGKILL");
    await client?.close();
    await nats?.stop();
  });

  it("records the step's answer after the partitions come back, without calling the step again", async () => {
    const called = new Promise<void>((r) => {
      started = r;
    });
    const [id] = await sendEvents(url, { name: "gap/go", data: {} });
    await called;
    // Another owner takes every partition for 4 s (the executor's TTL is 1 s): its next renewal
    // fails and it cannot take them back until these expire.
    const intruder = JSON.stringify({ owner: "intruder" });
    await Promise.all(
      Array.from({ length: PARTITIONS }, (_, p) =>
        writeExpiring(client.js, Buckets.leases, Keys.lease(p), intruder, 4_000),
      ),
    );
    await jetstep.waitForLine(/"why":"expired".*partition released/, 10_000);
    // The app answers now: the run's partition is the intruder's for 3 s more.
    open();
    const [run] = await waitForEventRuns(url, id as string, 1, 30_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    assert.equal(slowRuns, 1, "the step ran again after the partitions were taken back");
  });
});
