/**
 * Crash recovery: SIGKILL the process running the executor while runs are mid-flight (some in
 * retry backoff), start a new one: every run completes and no completed step runs again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  freePort,
  type NatsServerHandle,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { type ApiRun, eventRuns, sendEvents, spawnJetstep, startCrashApp } from "./harness.ts";

const RUNS = 40;

describe("executor crash", () => {
  let nats: NatsServerHandle;
  let app: TsProcess;
  const procs: TsProcess[] = [];
  const execLog = join(mkdtempSync(join(tmpdir(), "jetstep-crash-")), "exec.log");

  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    for (const p of procs) await p.kill("SIGKILL");
    await app?.kill("SIGKILL");
    await nats?.stop();
  });

  it("resumes every run after SIGKILL, re-running no completed step", async () => {
    const appPort = await freePort();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const appUrl = `http://127.0.0.1:${appPort}/api/inngest`;
    const args = ["-u", appUrl, "--retry-interval", "1.5", "--lease-ttl", "2s"];
    const first = await spawnJetstep(nats.url, port, args);
    procs.push(first);
    app = await startCrashApp(appPort, url, execLog, 150);

    const ids = await sendEvents(
      url,
      Array.from({ length: RUNS }, (_, i) => ({ name: "crash/go", data: { i } })),
    );
    // Kill once some steps completed and some flaky steps wait in retry backoff.
    await waitFor(
      async () => {
        const runs = (await Promise.all(ids.map((id) => eventRuns(url, id))))
          .flat()
          .filter((r): r is ApiRun => r !== null);
        const backoff = runs.some((r) => r.steps.some((s) => s.status === "backoff"));
        const progressed = runs.some((r) => r.steps.some((s) => s.status === "completed"));
        return backoff && progressed;
      },
      { timeoutMs: 30_000, intervalMs: 50, message: "no run reached retry backoff" },
    );
    await first.kill("SIGKILL");
    const midway = (await Promise.all(ids.map((id) => eventRuns(url, id).catch(() => null)))).length;
    assert.equal(midway, RUNS);

    const port2 = await freePort();
    const url2 = `http://127.0.0.1:${port2}`;
    const second = await spawnJetstep(nats.url, port2, args);
    procs.push(second);
    const all = await waitFor(
      async () => {
        const runs = (await Promise.all(ids.map((id) => eventRuns(url2, id)))).flat();
        return runs.length === RUNS * 2 && runs.every((r) => r?.status === "Completed")
          ? (runs as ApiRun[])
          : null;
      },
      { timeoutMs: 90_000, intervalMs: 250, message: "not every run completed after the restart" },
    );

    // No step body started after its completion was recorded.
    const executions = readFileSync(execLog, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    for (const run of all) {
      const full = (await (await fetch(`${url2}/v1/runs/${run.run_id}`)).json()) as {
        data: { steps: { name: string; ended_at: string }[] };
      };
      for (const step of full.data.steps) {
        const endedAt = Date.parse(step.ended_at);
        const late = executions.filter(
          ([r, s, t]) => r === run.run_id && s === step.name && Number(t) > endedAt,
        );
        assert.deepEqual(late, [], `step ${step.name} of run ${run.run_id} ran again after it completed`);
      }
      assert.equal(run.output, run.function_id.endsWith("steady") ? 4 : "ok");
    }
  });
});
