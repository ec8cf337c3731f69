/**
 * The fault scenarios of `npm test`, in two files (faults.test.ts, faults-processes.test.ts): the
 * runner's per-file timeout (TEST_TIMEOUT, 300 s) bounds a file as a whole, and all seven in one
 * file took 33–49 s each on a loaded 2-core machine, past it. See faults.test.ts for what each
 * checks.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failures, runScenario, type ScenarioName } from "../faults/harness.ts";

const RUNS = 150;
/** Twice the slowest healthy recovery measured. */
const SETTLE_TIMEOUT_MS = 60_000;
/**
 * Steps whose call a fault cut are retried after 1 s, not production's 15–16.5 s: what is checked
 * (nothing lost or stuck, no step re-run after it was recorded) does not depend on the wait, and
 * the wait was most of kill-app's and kill-nats's time. `npm run test:faults` keeps production's.
 */
const RETRY_INTERVAL_S = 1;

/** A suite running each scenario with 150 runs and checking nothing was lost, stuck or re-run. */
export function faultSuite(scenarios: ScenarioName[]): void {
  describe(`fault injection (${RUNS} runs each)`, () => {
    for (const name of scenarios) {
      it(`${name}: nothing lost or stuck, no step re-run after it was recorded`, async () => {
        const r = await runScenario(name, {
          runs: RUNS,
          settleTimeoutMs: SETTLE_TIMEOUT_MS,
          retryIntervalS: RETRY_INTERVAL_S,
        });
        const why = [...failures(r), ...(r.logDir ? [`process logs: ${r.logDir}`] : [])].join("\n");
        assert.equal(r.acked, RUNS, why);
        assert.deepEqual(r.lost, [], why);
        assert.deepEqual(r.stuck, [], why);
        assert.deepEqual(r.startedAfterRecorded, [], why);
        assert.equal(r.completed, r.acked, why);
        assert.deepEqual(r.wrong, [], why);
        assert.deepEqual(r.problems, [], why);
      });
    }
  });
}
