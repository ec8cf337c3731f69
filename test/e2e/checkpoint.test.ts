/**
 * Checkpointing, end to end, for the official `inngest` SDK (v4, default settings) and ours over
 * HTTP and as a NATS worker: a 10-step run takes one call, each step reported by checkpoint as it
 * completes; a SIGKILL of the app in step 4 runs none of steps 1–3 again; a SIGKILL of Jetstep
 * mid-run runs again at most the step that was in flight.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
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

const APP = fileURLToPath(new URL("../fixtures/checkpoint-app.ts", import.meta.url));
const STEPS = Array.from({ length: 10 }, (_, i) => `s${i + 1}`);

const FLAVOURS = [
  { sdk: "official", label: "official inngest SDK over HTTP" },
  { sdk: "jetstep", label: "our SDK over HTTP" },
  { sdk: "worker", label: "our SDK as a NATS worker" },
] as const;

for (const { sdk, label } of FLAVOURS) {
  describe(`checkpointing: ${label}`, () => {
    let nats: NatsServerHandle;
    let jetstep: TsProcess;
    let app: TsProcess;
    let url: string;
    let port: number;
    let appPort: number;
    const dir = mkdtempSync(join(tmpdir(), `jetstep-checkpoint-${sdk}-`));
    const execLog = join(dir, "exec.log");
    const jetstepArgs = () => [
      ...(sdk === "worker" ? [] : ["-u", `http://127.0.0.1:${appPort}/api/inngest`]),
      "--retry-interval",
      "1",
      "--lease-ttl",
      "2s",
    ];

    /** Lines `<what> <runId>` of the app's log for one run. */
    const executions = (runId: string): string[] =>
      readFileSync(execLog, "utf8")
        .split("\n")
        .filter((l) => l.endsWith(` ${runId}`))
        .map((l) => l.slice(0, -runId.length - 1));
    const count = (runId: string, what: string) => executions(runId).filter((w) => w === what).length;

    const startApp = async () => {
      app = spawnTs(APP, [], {
        env: {
          SDK: sdk,
          PORT: String(appPort),
          INNGEST_DEV: "1",
          INNGEST_BASE_URL: url,
          JETSTEP_BASE_URL: url,
          NATS_URL: nats.url,
          EXEC_LOG: execLog,
          KILL_DIR: dir,
        },
      });
      await app.waitForLine(/listening/, 30_000);
    };

    /** Sends `ck/go` and waits for its run to end. */
    const runToEnd = async (data: Record<string, unknown>, during?: (runId: string) => Promise<void>) => {
      const [id] = await sendEvents(url, { name: "ck/go", data });
      let runId = "";
      await waitFor(
        async () => {
          runId = (await eventRuns(url, id as string))?.[0]?.run_id ?? "";
          return runId !== "";
        },
        { timeoutMs: 30_000 },
      );
      await during?.(runId);
      const [run] = await waitForEventRuns(url, id as string, 1, 90_000);
      return run as ApiRun;
    };

    before(async () => {
      nats = await startNatsServer({ syncAlways: true });
      port = await freePort();
      appPort = await freePort();
      url = `http://127.0.0.1:${port}`;
      jetstep = await spawnJetstep(nats.url, port, jetstepArgs());
      await startApp();
      await waitForApp(
        url,
        "ck-app",
        sdk === "worker" ? {} : { syncUrl: `http://127.0.0.1:${appPort}/api/inngest` },
      );
    });
    after(async () => {
      await app?.kill("SIGKILL");
      await jetstep?.kill("SIGKILL");
      await nats?.stop();
    });

    it("runs 10 steps in one call, reporting each by checkpoint", async () => {
      const run = await runToEnd({});
      assert.equal(run.status, "Completed", JSON.stringify(run));
      assert.deepEqual(run.output, { sum: 55 });
      assert.deepEqual(
        run.steps.map((s) => [s.name, s.status, s.output]),
        STEPS.map((name, i) => [name, "completed", i + 1]),
      );
      assert.equal(count(run.run_id, "call"), 1, `calls to the app: ${executions(run.run_id).join(", ")}`);
      for (const name of STEPS) assert.equal(count(run.run_id, `step:${name}`), 1, name);
    });

    it("after a SIGKILL of the app in step 4, steps 1–3 are not run again", async () => {
      const run = await runToEnd({ killIn: "s4" }, async () => {
        const exit = await app.exited;
        assert.equal(exit.signal, "SIGKILL");
        await startApp();
      });
      assert.equal(run.status, "Completed", JSON.stringify(run));
      assert.deepEqual(run.output, { sum: 55 });
      for (const name of ["s1", "s2", "s3"]) assert.equal(count(run.run_id, `step:${name}`), 1, name);
      assert.equal(count(run.run_id, "step:s4"), 2, "s4 was in flight: run again once");
      for (const name of STEPS.slice(4)) assert.equal(count(run.run_id, `step:${name}`), 1, name);
    });

    it("after a SIGKILL of Jetstep mid-run, at most the step in flight runs again", async () => {
      const run = await runToEnd({ stepMs: 150 }, async (runId) => {
        await waitFor(() => count(runId, "step:s5") === 1, { timeoutMs: 30_000 });
        await jetstep.kill("SIGKILL");
        jetstep = await spawnJetstep(nats.url, port, jetstepArgs());
      });
      assert.equal(run.status, "Completed", JSON.stringify(run));
      assert.deepEqual(run.output, { sum: 55 });
      const ran = STEPS.map((name) => count(run.run_id, `step:${name}`));
      for (const [i, n] of ran.entries()) {
        if (i === 4) assert.ok(n === 1 || n === 2, `s5 (in flight) ran ${n} times`);
        else assert.equal(n, 1, `${STEPS[i]} ran ${n} times: ${ran.join(" ")}`);
      }
    });
  });
}
