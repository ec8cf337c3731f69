/**
 * Durable sleeps: `step.sleep` and `step.sleepUntil`; 1,000 sleeping runs survive a SIGKILL of the
 * executor during the sleep: all complete, no step body runs twice (a step in flight at the
 * kill would run again, at least once; the sleep is long enough that none is).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
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

const APP = fileURLToPath(new URL("../fixtures/sleep-app.ts", import.meta.url));
const RUNS = 1000;

describe("durable sleep", () => {
  let nats: NatsServerHandle;
  let app: TsProcess;
  let jetstep: TsProcess;
  let url: string;
  const procs: TsProcess[] = [];
  const execLog = join(mkdtempSync(join(tmpdir(), "jetstep-sleep-")), "exec.log");
  const executions = () =>
    (existsSync(execLog) ? readFileSync(execLog, "utf8") : "")
      .trim()
      .split("\n")
      .map((l) => l.split(" ") as [string, string, string]);
  const args = (appPort: number) => ["-u", `http://127.0.0.1:${appPort}/api/inngest`, "--lease-ttl", "2s"];
  let appPort = 0;

  before(async () => {
    nats = await startNatsServer();
    appPort = await freePort();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    jetstep = await spawnJetstep(nats.url, port, args(appPort));
    procs.push(jetstep);
    app = spawnTs(APP, [], { env: { PORT: String(appPort), JETSTEP_BASE_URL: url, EXEC_LOG: execLog } });
    await app.waitForLine(/listening/, 30_000);
    await waitForApp(url, "sleep-app", { syncUrl: `http://127.0.0.1:${appPort}/api/inngest` });
  });
  after(async () => {
    for (const p of procs) await p.kill("SIGKILL");
    await app?.kill("SIGKILL");
    await nats?.stop();
  });

  it("sleeps for the duration, then resumes", async () => {
    const [id] = await sendEvents(url, { name: "sleep/go", data: {} });
    const [run] = await waitForEventRuns(url, id as string, 1, 30_000);
    assert.equal(run?.status, "Completed");
    const slept = (run?.output as { slept: number } | undefined)?.slept ?? -1;
    assert.ok(slept >= 2000 && slept < 4000, `slept ${slept} ms`);
    assert.deepEqual(
      run?.steps.map((s) => [s.name, s.status]),
      [
        ["before", "completed"],
        ["nap", "completed"],
        ["after", "completed"],
      ],
    );
  });

  it("resumes at once from sleepUntil a past date", async () => {
    const [id] = await sendEvents(url, { name: "sleep/past", data: {} });
    const [run] = await waitForEventRuns(url, id as string, 1, 10_000);
    assert.equal(run?.output, "woke at once");
  });

  it(`completes ${RUNS} sleeping runs after a SIGKILL during the sleep, each step once`, async () => {
    const count = (step: string) => executions().filter(([, s]) => s === step).length;
    const base = { after: count("after") };
    // Long enough that no run wakes before the kill (reaching the sleep takes 1,000 runs a few
    // seconds): a step in flight at a crash runs again (at least once), which is not what this
    // test is about.
    const SLEEP_MS = 8_000;
    const ids = await sendEvents(
      url,
      Array.from({ length: RUNS }, (_, i) => ({
        name: "sleep/go",
        data: { i, sleep: `${SLEEP_MS / 1000}s` },
      })),
    );
    // Kill while the runs sleep: every run did its first step, (almost) none its last.
    // Kill once every run's first step is recorded (the handler got past it with the memo).
    /** How many runs logged `step`, from line `from` of the exec log on. */
    const runsThat = (step: string, from = 0) =>
      new Set(
        executions()
          .slice(from)
          .filter(([, st]) => st === step)
          .map(([r]) => r),
      ).size;
    const reached = () => runsThat("reached-sleep");
    const baseReached = reached();
    const baseLines = executions().length;
    await waitFor(() => reached() >= baseReached + RUNS, {
      timeoutMs: 60_000,
      intervalMs: 20,
      message: "runs did not all reach their sleep",
    });
    const afterAtKill = count("after") - base.after;
    const killedAt = Date.now();
    await jetstep.kill("SIGKILL");
    const firstSleep = Math.min(
      ...executions()
        .filter(([, st]) => st === "reached-sleep")
        .slice(baseReached)
        .map(([, , ms]) => Number(ms)),
    );
    // No timer can have fired before the kill (each is armed after its run logged reaching it).
    const noneWoke = killedAt < firstSleep + SLEEP_MS;
    assert.ok(afterAtKill < RUNS / 2, `most runs still sleeping at the kill (${afterAtKill} woke)`);

    const port2 = await freePort();
    url = `http://127.0.0.1:${port2}`;
    jetstep = await spawnJetstep(nats.url, port2, args(appPort));
    procs.push(jetstep);
    // Asking the API for all 1,000 runs costs the gateway seconds of CPU: ask once the app ran
    // every run's last step (its exec log says so), when the runs are about to complete.
    const runs = await waitFor(
      async () => {
        if (runsThat("after", baseLines) < RUNS) return null;
        const all = (await Promise.all(ids.map((id) => eventRuns(url, id)))).flat();
        return all.length === RUNS && all.every((r) => r?.status === "Completed") ? (all as ApiRun[]) : null;
      },
      { timeoutMs: 120_000, intervalMs: 1000, message: "not every sleeping run completed after the restart" },
    );
    const perRun = new Map<string, string[]>();
    for (const [runId, step] of executions()) {
      if (step !== "reached-sleep") perRun.set(runId, [...(perRun.get(runId) ?? []), step]);
    }
    for (const r of runs) {
      const steps = perRun.get(r.run_id) ?? [];
      // What Jetstep warned about, should a step have run twice after all.
      const partitionLog = () =>
        jetstep
          .lines()
          .filter((l) => /"level":[45]0/.test(l))
          .slice(0, 12)
          .join("\n");
      if (noneWoke)
        assert.deepEqual(
          steps,
          ["before", "after"],
          steps.length === 2 ? `run ${r.run_id}` : `run ${r.run_id}\n${partitionLog()}`,
        );
      else {
        // The machine was too slow for the sleep: a run that woke before the kill may have had
        // "after" in flight, which then runs again. "before" still ran once.
        assert.equal(steps.filter((s) => s === "before").length, 1, `run ${r.run_id}: ${steps}`);
        assert.ok(steps.length <= 3 && steps.includes("after"), `run ${r.run_id}: ${steps}`);
      }
    }
  });
});
