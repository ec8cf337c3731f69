/**
 * A graceful stop (SIGTERM) of one of two Jetstep processes while steps are running: the stopping
 * process lets the calls it has out finish and records their answers before it gives up its
 * partitions, so the other process takes every run over without running any step a second time.
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

const RUNS = 12;

describe("graceful stop", () => {
  let nats: NatsServerHandle;
  let app: TsProcess | undefined;
  const procs: TsProcess[] = [];
  const execLog = join(mkdtempSync(join(tmpdir(), "jetstep-drain-")), "exec.log");

  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    for (const p of procs) await p.kill("SIGKILL");
    await app?.kill("SIGKILL");
    await nats?.stop();
  });

  it("hands runs over on SIGTERM without running any step twice", async () => {
    const appPort = await freePort();
    const [portA, portB] = [await freePort(), await freePort()];
    const [urlA, urlB] = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
    const appUrl = `http://127.0.0.1:${appPort}/api/inngest`;
    const args = ["-u", appUrl, "--lease-ttl", "2s", "--retry-interval", "0.5"];
    const first = await spawnJetstep(nats.url, portA, args);
    procs.push(first);
    const second = await spawnJetstep(nats.url, portB, args);
    procs.push(second);
    app = await startCrashApp(appPort, urlB, execLog, 400);
    const ids = await sendEvents(
      urlA,
      Array.from({ length: RUNS }, (_, i) => ({ name: "crash/go", data: { i } })),
    );
    const executed = () =>
      readFileSync(execLog, { encoding: "utf8", flag: "a+" })
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" "));
    // Stop the first process while steps are running (each takes 400 ms): some of its calls are out.
    await waitFor(() => executed().length >= RUNS, {
      timeoutMs: 30_000,
      intervalMs: 20,
      message: "steps did not start",
    });
    const stopped = await first.kill("SIGTERM");
    assert.equal(stopped.code, 0, `the first process did not stop cleanly:\n${first.output()}`);

    const all = await waitFor(
      async () => {
        const runs = (await Promise.all(ids.map((id) => eventRuns(urlB, id)))).flat();
        return runs.length === RUNS * 2 && runs.every((r) => r?.status === "Completed")
          ? (runs as ApiRun[])
          : null;
      },
      { timeoutMs: 90_000, intervalMs: 250, message: "not every run completed after the stop" },
    );
    const counts = new Map<string, number>();
    for (const [run, step] of executed())
      counts.set(`${run} ${step}`, (counts.get(`${run} ${step}`) ?? 0) + 1);
    for (const run of all) {
      // `flaky` fails twice on purpose; every other step runs once.
      const steps = run.function_id.endsWith("steady")
        ? ["one", "two", "three", "four"]
        : ["before", "after"];
      for (const step of steps)
        assert.equal(counts.get(`${run.run_id} ${step}`), 1, `step ${step} of run ${run.run_id} ran again`);
    }
  });
});
