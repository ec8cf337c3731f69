/**
 * Checkpoints through a gateway that does not drive the run: the gateway runs alone in one
 * runtime, the matcher and executor in another, so every checkpoint crosses NATS
 * (`jetstep.checkpoint.<p>`) to the partition's owner. Also what the route answers to a stale
 * dispatch (409) and to a malformed body (400 naming the field).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Runtime, startRuntime } from "@jetstep/cli";
import { silentLogger } from "@jetstep/telemetry";
import {
  freePort,
  type NatsServerHandle,
  spawnTs,
  startNatsServer,
  type TsProcess,
} from "../support/index.ts";
import { sendEvents, waitForApp, waitForEventRuns } from "./harness.ts";

const APP = fileURLToPath(new URL("../fixtures/checkpoint-app.ts", import.meta.url));

describe("checkpoints through a gateway in another process than the run's executor", () => {
  let nats: NatsServerHandle;
  let engine: Runtime;
  let gateway: Runtime;
  let app: TsProcess;
  let url: string;
  const execLog = join(mkdtempSync(join(tmpdir(), "jetstep-ck-forward-")), "exec.log");

  before(async () => {
    nats = await startNatsServer({ syncAlways: true });
    const appPort = await freePort();
    const common = {
      natsUrl: nats.url,
      host: "127.0.0.1",
      port: 0,
      syncIntervalMs: 500,
      log: silentLogger(),
    };
    engine = await startRuntime({ ...common, appUrls: [], services: ["matcher", "executor"] });
    gateway = await startRuntime({
      ...common,
      appUrls: [`http://127.0.0.1:${appPort}/api/inngest`],
      services: ["gateway"],
    });
    url = gateway.gatewayUrl;
    app = spawnTs(APP, [], {
      env: { SDK: "jetstep", PORT: String(appPort), JETSTEP_BASE_URL: url, EXEC_LOG: execLog },
    });
    await app.waitForLine(/listening/, 30_000);
    await waitForApp(url, "ck-app");
  });
  after(async () => {
    await app?.kill("SIGKILL");
    await gateway?.stop();
    await engine?.stop();
    await nats?.stop();
  });

  it("runs 10 steps in one call, each checkpoint forwarded over NATS", async () => {
    const [id] = await sendEvents(url, { name: "ck/go", data: {} });
    const [run] = await waitForEventRuns(url, id as string, 1, 60_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    assert.deepEqual(run?.output, { sum: 55 });
    const lines = readFileSync(execLog, "utf8").split("\n");
    assert.equal(lines.filter((l) => l === `call ${run?.run_id}`).length, 1, "one call for ten steps");
  });

  it("answers 409 to a checkpoint of a dispatch not in flight, and 400 naming a bad field", async () => {
    const [id] = await sendEvents(url, { name: "ck/go", data: {} });
    const [run] = await waitForEventRuns(url, id as string, 1, 60_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    const runId = run?.run_id as string;
    const post = (body: unknown) =>
      fetch(`${url}/v1/checkpoint/${runId}/async`, { method: "POST", body: JSON.stringify(body) });
    // The run's partition is not known here: any partition's owner refuses a dispatch it never made.
    const stale = await post({
      run_id: runId,
      fn_id: "ck-app-ten",
      qi_id: "0-0123456789abcdef0123456789abcdef",
      steps: [{ id: "s", op: "StepRun", data: 1 }],
    });
    assert.equal(stale.status, 409, await stale.clone().text());
    const bad = await post({ run_id: runId, qi_id: "0-0123456789abcdef", steps: [{ op: "StepRun" }] });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^steps\.0\.id: /);
    const notDispatch = await post({ run_id: runId, qi_id: "not-a-dispatch", steps: [] });
    assert.equal(notDispatch.status, 400);
    assert.match(((await notDispatch.json()) as { error: string }).error, /qi_id/);
  });
});
