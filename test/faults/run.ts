/**
 * `npm run test:faults`: every fault scenario against a load of 2,000 five-step runs, one table row
 * each; exits 1 when any run was lost, stuck or had a step re-run after its result was recorded
 * (or ended wrong, or a process died on its own).
 *
 *   npm run test:faults                                  every scenario, 2,000 runs each
 *   npm run test:faults -- --only kill-nats,kill-app     some scenarios
 *   npm run test:faults -- --runs 500                    or FAULT_RUNS=500
 *   npm run test:faults -- --settle-timeout 300          seconds to wait for runs to end (default 180)
 */
import { parseArgs } from "node:util";
import {
  failures,
  formatTable,
  isScenarioName,
  runScenario,
  SCENARIO_NAMES,
  SCENARIOS,
  type ScenarioName,
  type ScenarioResult,
} from "./harness.ts";

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run test:faults -- [--only <scenario,…>] [--runs <n>] [--settle-timeout <s>]\nscenarios: ${SCENARIO_NAMES.join(", ")}\n`,
  );
  process.exit(2);
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) usage(`${name}: ${raw} is not a positive integer`);
  return n;
}

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    runs: { type: "string" },
    "settle-timeout": { type: "string" },
  },
});
const scenarios: ScenarioName[] = values.only
  ? values.only.split(",").map((s) => {
      const name = s.trim();
      if (!isScenarioName(name)) usage(`--only: unknown scenario "${name}"`);
      return name;
    })
  : SCENARIO_NAMES;
const runs = positive("--runs", values.runs ?? process.env.FAULT_RUNS ?? "2000");
const settleTimeoutMs = positive("--settle-timeout", values["settle-timeout"] ?? "180") * 1000;

const results: ScenarioResult[] = [];
let errors = 0;
for (const name of scenarios) {
  console.log(`${name}: ${SCENARIOS[name].summary}; ${runs} runs …`);
  try {
    const r = await runScenario(name, { runs, settleTimeoutMs });
    results.push(r);
    const why = failures(r);
    const s = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
    const { start, load, settle, measure } = r.phases;
    console.log(
      `${name}: ${why.length === 0 ? "ok" : "FAILED"} (stack start ${s(start)}, load ${s(load)}, settle ${s(settle)}, measure ${s(measure)}; ${r.retriedPosts} POSTs retried)`,
    );
    for (const line of why) console.log(`  - ${line}`);
    if (r.logDir) console.log(`  process logs: ${r.logDir}`);
  } catch (e) {
    // The harness itself failed (the stack did not start, the gateway stopped answering): say so
    // and go on with the next scenario.
    errors++;
    console.log(`${name}: could not be measured: ${(e as Error).stack ?? String(e)}`);
  }
}
console.log(`\n${formatTable(results)}`);
const failed = results.filter((r) => failures(r).length > 0).length + errors;
console.log(`\n${results.length + errors - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
