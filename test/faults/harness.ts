/**
 * The fault suite (issue 14): start the stack, send a load of N five-step runs, inject one fault
 * mid-load, wait until every acknowledged run ended (or a deadline), and measure. Used by
 * `npm run test:faults` (run.ts, 2,000 runs) and by test/e2e/faults.test.ts (a few hundred).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../support/index.ts";
import type { FaultTimes } from "./analysis.ts";
import { startLoad } from "./load.ts";
import { dumpRunLogs, type Measurement, measure, settle } from "./measure.ts";
import { SCENARIOS, type ScenarioName } from "./scenarios.ts";
import { EVENT_KEY, startFaultStack } from "./stack.ts";

export { isScenarioName, SCENARIO_NAMES, SCENARIOS, type ScenarioName } from "./scenarios.ts";

export interface ScenarioOptions {
  runs: number;
  /** How long to wait, once the load is in and the fault healed, for every run to end. */
  settleTimeoutMs: number;
  /** `--lease-ttl` of every Jetstep process; default 3 s. */
  leaseTtlMs?: number;
  /** How long each step body works; default 5 ms. */
  stepMs?: number;
  /**
   * A fixed retry backoff in seconds (`--retry-interval`); default the production schedule, whose
   * first retry waits 15–16.5 s (a step whose call died with a killed app or server is retried).
   */
  retryIntervalS?: number;
}

export interface ScenarioResult extends Measurement {
  scenario: ScenarioName;
  /** When the fault hit and when the component came back (ms). */
  fault: FaultTimes;
  /** Events no POST could deliver within 60 s (not counted anywhere else). */
  unacked: number;
  /** POSTs sent again because the gateway (or NATS behind it) failed them. */
  retriedPosts: number;
  /** Processes that exited on their own, faults that missed their precondition, cron that never resumed. */
  problems: string[];
  /** Process logs, kept when the scenario failed. */
  logDir: string | undefined;
  /** Wall time of each phase (ms): the stack's start, load until its last ack, settling, measuring. */
  phases: { start: number; load: number; settle: number; measure: number };
}

/** Events per POST and the pause between POSTs: 200 events/s, so 2,000 runs arrive over 10 s. */
const BATCH = 10;
const BATCH_INTERVAL_MS = 50;

async function linesIn(path: string): Promise<number> {
  const text = await readFile(path, "utf8").catch(() => "");
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** Runs one scenario on a fresh stack (its own nats-server and store) and measures it. */
export async function runScenario(name: ScenarioName, opts: ScenarioOptions): Promise<ScenarioResult> {
  const t0 = Date.now();
  const leaseTtlMs = opts.leaseTtlMs ?? 3_000;
  const workDir = await mkdtemp(join(tmpdir(), `jetstep-faults-${name}-`));
  const execLog = join(workDir, "exec.log");
  const stack = await startFaultStack({
    execLog,
    leaseTtlMs,
    stepMs: opts.stepMs ?? 5,
    ...(opts.retryIntervalS !== undefined ? { retryIntervalS: opts.retryIntervalS } : {}),
  }).catch(async (e: unknown) => {
    await rm(workDir, { recursive: true, force: true });
    throw e;
  });
  const started = Date.now();
  const load = startLoad(
    {
      gatewayUrl: stack.gatewayUrl,
      eventKey: EVENT_KEY,
      runs: opts.runs,
      batchSize: BATCH,
      intervalMs: BATCH_INTERVAL_MS,
      giveUpMs: 60_000,
    },
    name,
  );
  let result: ScenarioResult;
  try {
    // Mid-load: half the events are in and the executors are busy (a quarter of the runs' worth
    // of step bodies started).
    await waitFor(
      async () => load.ackedCount() >= opts.runs / 2 && (await linesIn(execLog)) >= opts.runs / 4,
      { timeoutMs: 120_000, intervalMs: 50, message: `${name}: the load under way` },
    );
    const fault = await SCENARIOS[name].inject(stack, leaseTtlMs);
    const sent = await load.done;
    const loaded = Date.now();
    const settled = await settle(stack.gatewayUrl, sent.acked, fault.restartAt, opts.settleTimeoutMs);
    const measuring = Date.now();
    const measured = await measure({
      gatewayUrl: stack.gatewayUrl,
      nats: stack.client,
      execLog,
      acked: sent.acked,
      fault,
      cronCutoff: settled.cronCutoff,
    });
    const problems = [...fault.problems, ...stack.unexpectedExits()];
    if (!settled.cronResumed) problems.push("cron started no run after the restart");
    result = {
      scenario: name,
      fault: { faultAt: fault.faultAt, restartAt: fault.restartAt },
      ...measured,
      unacked: sent.unacked,
      retriedPosts: sent.retriedPosts,
      problems,
      logDir: undefined,
      phases: {
        start: started - t0,
        load: loaded - started,
        settle: measuring - loaded,
        measure: Date.now() - measuring,
      },
    };
  } catch (e) {
    load.cancel();
    await stack.stop();
    const logDir = join(workDir, "logs");
    await stack.saveLogs(logDir);
    throw new Error(`${name} could not be measured (process logs: ${logDir}): ${(e as Error).message}`, {
      cause: e,
    });
  }
  load.cancel();
  if (failures(result).length > 0) {
    // Kept for the post-mortem: the result with every id, the logs of the runs it names (read
    // before the server goes), each process's output, and the app's EXEC_LOG (in workDir).
    const logDir = join(workDir, "logs");
    result.logDir = logDir;
    await mkdir(logDir, { recursive: true });
    await writeFile(join(logDir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
    try {
      await dumpRunLogs(stack.client, flaggedRuns(result), join(logDir, "run-logs.jsonl"));
    } finally {
      await stack.stop();
    }
    await stack.saveLogs(logDir);
  } else {
    await stack.stop();
    await rm(workDir, { recursive: true, force: true });
  }
  return result;
}

const MAX_LISTED = 10;
const listed = (items: string[]): string =>
  items.slice(0, MAX_LISTED).join("; ") +
  (items.length > MAX_LISTED ? `; … ${items.length - MAX_LISTED} more` : "");
const iso = (ms: number): string => new Date(ms).toISOString();

/** The runs a failure names (at most 100): stuck, started after recorded, ended wrong. */
function flaggedRuns(r: ScenarioResult): string[] {
  const ids = [
    ...r.stuck.map((s) => s.runId),
    ...r.startedAfterRecorded.map((l) => l.runId),
    ...r.wrong.map((w) => w.runId),
  ];
  return [...new Set(ids)].slice(0, 100);
}

/** Why the scenario fails, one line per kind of failure; empty when it passes. */
export function failures(r: ScenarioResult): string[] {
  const out: string[] = [];
  if (r.lost.length > 0) out.push(`${r.lost.length} acknowledged events started no run: ${listed(r.lost)}`);
  if (r.stuck.length > 0)
    out.push(
      `${r.stuck.length} runs not ended: ${listed(r.stuck.map((s) => `${s.kind} run ${s.runId} ${s.status}${s.phase ? `/${s.phase}` : ""}`))}`,
    );
  if (r.startedAfterRecorded.length > 0)
    out.push(
      `${r.startedAfterRecorded.length} step bodies started after their result was recorded: ${listed(
        r.startedAfterRecorded.map(
          (l) =>
            `run ${l.runId} step ${l.step} recorded ${iso(l.recordedAt)}, started ${l.startedAt.map(iso).join(", ")}`,
        ),
      )}`,
    );
  if (r.wrong.length > 0)
    out.push(`${r.wrong.length} wrong outcomes: ${listed(r.wrong.map((w) => `run ${w.runId}: ${w.why}`))}`);
  if (r.unacked > 0) out.push(`${r.unacked} events were never acknowledged (POSTs failed for 60 s)`);
  out.push(...r.problems);
  return out;
}

const ms = (v: number | undefined): string => (v === undefined ? "-" : `${(v / 1000).toFixed(1)} s`);

const COLUMNS = [
  ["scenario", (r: ScenarioResult) => r.scenario],
  ["acked", (r: ScenarioResult) => String(r.acked)],
  ["lost", (r: ScenarioResult) => String(r.lost.length)],
  ["completed", (r: ScenarioResult) => String(r.completed)],
  ["stuck", (r: ScenarioResult) => String(r.stuck.length)],
  [
    "after-rec",
    (r: ScenarioResult) => String(r.startedAfterRecorded.reduce((n, l) => n + l.startedAt.length, 0)),
  ],
  ["re-exec", (r: ScenarioResult) => String(r.reExecuted.reduce((n, x) => n + x.startedAt.length - 1, 0))],
  ["recovery", (r: ScenarioResult) => ms(r.recoveryMs)],
  ["stall", (r: ScenarioResult) => ms(r.stallMs)],
  ["last end", (r: ScenarioResult) => ms(r.lastEndMs)],
  ["cron", (r: ScenarioResult) => String(r.cronRuns)],
  ["verdict", (r: ScenarioResult) => (failures(r).length === 0 ? "ok" : "FAIL")],
] as const;

/** The results as a plain-text table, with a legend. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows = [COLUMNS.map(([title]) => title), ...results.map((r) => COLUMNS.map(([, cell]) => cell(r)))];
  const widths = COLUMNS.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length)));
  const lines = rows.map((row) =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join("  "),
  );
  return [
    ...lines,
    "",
    "acked: events answered 200; lost: acked events with no run; stuck: runs not ended by the deadline;",
    "after-rec: step bodies started after their result was recorded; re-exec: extra starts before it;",
    "recovery: from the restart (or SIGCONT) to the first step recorded after it; stall: the longest a",
    "run in flight at the fault waited for its next log entry; last end: from the fault to the last",
    "run's end; cron: cron runs measured.",
  ].join("\n");
}
