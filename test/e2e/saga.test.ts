/**
 * Saga compensation: a permanent failure runs the compensations of completed steps in reverse
 * order of completion, each exactly once — also when the executor is SIGKILLed between two
 * compensations; `compensateOnCancel` compensates a cancelled run.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  freePort,
  type NatsServerHandle,
  spawnTs,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { type ApiRun, eventRuns, sendEvents, spawnJetstep, waitForApp, waitForEventRuns } from "./harness.ts";

const APP = fileURLToPath(new URL("../fixtures/saga-app.ts", import.meta.url));

type SagaRun = ApiRun & {
  phase: string;
  compensation?: {
    status: string;
    reason: string;
    steps: { name: string; status: string; attempts: number }[];
  };
};

describe("saga compensation", () => {
  let nats: NatsServerHandle;
  let app: TsProcess;
  let jetstep: TsProcess;
  let url: string;
  let appPort: number;
  const procs: TsProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "jetstep-saga-"));
  const execLog = join(dir, "exec.log");
  const gate = join(dir, "gate");
  const lines = (runId: string) =>
    (existsSync(execLog) ? readFileSync(execLog, "utf8") : "")
      .trim()
      .split("\n")
      .map((l) => l.split(" "))
      .filter(([r]) => r === runId)
      .map(([, what]) => what as string);
  const args = () => [
    "-u",
    `http://127.0.0.1:${appPort}/api/inngest`,
    "--lease-ttl",
    "2s",
    "--retry-interval",
    "0.5",
  ];

  before(async () => {
    nats = await startNatsServer();
    appPort = await freePort();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    jetstep = await spawnJetstep(nats.url, port, args());
    procs.push(jetstep);
    app = spawnTs(APP, [], {
      env: { PORT: String(appPort), JETSTEP_BASE_URL: url, EXEC_LOG: execLog, GATE_FILE: gate },
    });
    await app.waitForLine(/listening/, 30_000);
    await waitForApp(url, "saga", { syncUrl: `http://127.0.0.1:${appPort}/api/inngest` });
  });
  after(async () => {
    for (const p of procs) await p.kill("SIGKILL");
    await app?.kill("SIGKILL");
    await nats?.stop();
  });

  const fullRun = async (runId: string) =>
    ((await (await fetch(`${url}/v1/runs/${runId}`)).json()) as { data: SagaRun }).data;

  it("runs refund then release exactly once after ship fails for good", async () => {
    const [id] = await sendEvents(url, { name: "saga/order", data: {} });
    const [run] = await waitForEventRuns(url, id as string, 1, 30_000);
    const full = await fullRun(run?.run_id as string);
    assert.equal(full.status, "Failed");
    assert.equal(full.phase, "compensated");
    assert.equal(full.error?.message, "no courier available");
    assert.deepEqual(
      full.compensation?.steps.map((s) => [s.name, s.status, s.attempts]),
      [
        ["charge", "completed", 1],
        ["reserve", "completed", 1],
      ],
    );
    assert.deepEqual(lines(run?.run_id as string), ["reserve", "charge", "ship", "refund:42", "release:r-1"]);
  });

  it("resumes compensating from the log after a SIGKILL between the two compensations", async () => {
    const [id] = await sendEvents(url, { name: "saga/order", data: { gated: true } });
    const run = await waitFor(async () => (await eventRuns(url, id as string))?.[0], { timeoutMs: 20_000 });
    // refund done, release failing retriably (in backoff): kill the executor now.
    await waitFor(() => lines(run.run_id).includes("release-blocked"), {
      timeoutMs: 30_000,
      message: "release never attempted",
    });
    assert.equal((await fullRun(run.run_id)).phase, "compensating");
    await jetstep.kill("SIGKILL");
    writeFileSync(gate, "open");
    const port2 = await freePort();
    url = `http://127.0.0.1:${port2}`;
    jetstep = await spawnJetstep(nats.url, port2, args());
    procs.push(jetstep);
    const done = await waitFor(
      async () => {
        const r = await fullRun(run.run_id);
        return r.phase === "compensated" ? r : null;
      },
      { timeoutMs: 60_000, message: "compensation did not finish after the restart" },
    );
    const seen = lines(run.run_id).filter((w) => w !== "release-blocked");
    assert.deepEqual(seen, ["reserve", "charge", "ship", "refund:42", "release:r-1"]);
    assert.equal(done.compensation?.steps[0]?.attempts, 1, "refund ran once");
  });

  it("compensates a cancelled run when compensateOnCancel is set", async () => {
    const [id] = await sendEvents(url, { name: "saga/hold", data: {} });
    const run = await waitFor(
      async () => {
        const r = (await eventRuns(url, id as string))?.[0] as SagaRun | undefined;
        return r?.phase === "sleeping" ? r : null;
      },
      { timeoutMs: 20_000 },
    );
    const res = await fetch(`${url}/v1/runs/${run.run_id}`, { method: "DELETE" });
    assert.ok(res.status === 200 || res.status === 202);
    const done = await waitFor(
      async () => {
        const r = await fullRun(run.run_id);
        return r.phase === "compensated" ? r : null;
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(done.status, "Cancelled");
    assert.deepEqual(lines(run.run_id), ["unhold:7"]);
  });
});
