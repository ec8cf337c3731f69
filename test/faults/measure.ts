/**
 * What a fault did: which runs each acknowledged event started and how they ended (the gateway's
 * API), plus the step-level figures of analysis.ts over the run logs (read straight from
 * JetStream) and the app's EXEC_LOG.
 */
import { readFile, writeFile } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";
import { RunLogEntrySchema } from "@jetstep/core";
import { type Nats, type RunsLayout, readRunsLayout, runLocation, scanSubjects } from "@jetstep/jetstream";
import { WaitForTimeoutError, waitFor } from "../support/index.ts";
import { analyse, type FaultTimes, parseExecLog, type RunLogView, type StepFindings } from "./analysis.ts";
import type { AckedEvent } from "./load.ts";
import { API_AUTH, APP_ID } from "./stack.ts";

const FINAL = new Set(["Completed", "Failed", "Cancelled"]);
const ENDS = new Set(["run.completed", "run.failed", "run.cancelled"]);
const CRON_FN = `${APP_ID}-tick`;
const CRON_OUTPUT = { ticked: true };
/** Parallel requests to the gateway and to NATS while measuring (a 2-core machine is shared). */
const PARALLEL = 16;

export interface StuckRun {
  runId: string;
  kind: "event" | "cron";
  status: string;
  phase: string | undefined;
}

/** The step-level findings (analysis.ts) and what the API says about each run. */
export interface Measurement extends Omit<StepFindings, "recordedTwice"> {
  acked: number;
  /** Acknowledged events that started no run. */
  lost: string[];
  /** Event runs that completed with the expected output. */
  completed: number;
  /** Runs (event runs, and cron runs of slots up to the settle cut-off) not ended by the deadline. */
  stuck: StuckRun[];
  /** Cron runs measured (slots up to the cut-off). */
  cronRuns: number;
  /** Runs that ended failed, cancelled or with a wrong output; events with several runs; steps recorded twice. */
  wrong: WrongOutcome[];
}

export interface WrongOutcome {
  runId: string;
  why: string;
}

interface ApiRun {
  run_id: string;
  status: string;
  phase?: string;
  output: unknown;
  error: { name: string; message: string } | null;
}

interface ListedRun {
  run_id: string;
  status: string;
  run_started_at: string | null;
}

async function getJson<T>(url: string): Promise<T | null> {
  const res = await fetch(url, { headers: API_AUTH, signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const eventRuns = async (gatewayUrl: string, eventId: string): Promise<ApiRun[] | null> =>
  (await getJson<{ data: ApiRun[] }>(`${gatewayUrl}/v1/events/${encodeURIComponent(eventId)}/runs`))?.data ??
  null;

/** Every cron run the gateway lists (RUN_INDEX: one entry per run, newest change first). */
async function cronRuns(gatewayUrl: string): Promise<ListedRun[]> {
  const runs = new Map<string, ListedRun>();
  let cursor: number | null = null;
  do {
    const page: { data: ListedRun[]; cursor: number | null } | null = await getJson(
      `${gatewayUrl}/v1/runs?function_id=${CRON_FN}&limit=200${cursor === null ? "" : `&cursor=${cursor}`}`,
    );
    for (const r of page?.data ?? []) if (!runs.has(r.run_id)) runs.set(r.run_id, r);
    cursor = page?.cursor ?? null;
  } while (cursor !== null);
  return [...runs.values()];
}

const startedAt = (r: ListedRun): number => (r.run_started_at ? Date.parse(r.run_started_at) : Number.NaN);

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface Settled {
  /** Cron runs that started up to this time must end; later ones are still firing and ignored. */
  cronCutoff: number;
  /** Whether a cron run started after the restart. */
  cronResumed: boolean;
}

/**
 * Waits until every acknowledged event's runs have ended, a cron run has started after the
 * restart (cron survived the fault) and the cron runs up to then have ended, or `timeoutMs`;
 * what has not ended by then is measured as stuck.
 */
export async function settle(
  gatewayUrl: string,
  acked: readonly AckedEvent[],
  restartAt: number,
  timeoutMs: number,
): Promise<Settled> {
  const since = Date.now();
  const pending = new Set(acked.map((e) => e.id));
  let cronCutoff: number | undefined;
  const settled = async (): Promise<boolean> => {
    await mapLimit([...pending], PARALLEL, async (id) => {
      const runs = await eventRuns(gatewayUrl, id);
      if (runs && runs.length > 0 && runs.every((r) => FINAL.has(r.status))) pending.delete(id);
    });
    const cron = await cronRuns(gatewayUrl);
    const resumed = cron.map(startedAt).filter((t) => t >= restartAt);
    if (resumed.length > 0) cronCutoff ??= Math.max(since, Math.min(...resumed));
    const cutoff = cronCutoff;
    return (
      pending.size === 0 &&
      cutoff !== undefined &&
      cron.every((r) => FINAL.has(r.status) || startedAt(r) > cutoff)
    );
  };
  try {
    await waitFor(settled, { timeoutMs, intervalMs: 500, message: "every run ended" });
  } catch (e) {
    if (!(e instanceof WaitForTimeoutError)) throw e;
  }
  return { cronCutoff: cronCutoff ?? since, cronResumed: cronCutoff !== undefined };
}

async function readRunLog(nats: Nats, layout: RunsLayout, runId: string): Promise<RunLogView> {
  const view: RunLogView = { scheduledAt: undefined, endedAt: undefined, times: [], records: new Map() };
  const at = runLocation(layout, runId);
  for await (const m of scanSubjects(nats.jsm, at.stream, at.subject, { direct: true })) {
    const time = m.time.getTime();
    view.times.push(time);
    for (const entry of RunLogEntrySchema.array().parse(m.json())) {
      if (entry.type === "run.scheduled") view.scheduledAt = time;
      if (ENDS.has(entry.type)) view.endedAt = time;
      if (entry.type === "step.completed")
        view.records.set(entry.name, [...(view.records.get(entry.name) ?? []), time]);
    }
  }
  return view;
}

/**
 * Writes the logs of `runIds` (each message: its stream sequence, stored time and entries) as JSON
 * lines to `path`, for the post-mortem of a failed scenario.
 */
export async function dumpRunLogs(nats: Nats, runIds: readonly string[], path: string): Promise<void> {
  const layout = await readRunsLayout(nats.jsm);
  const lines: string[] = [];
  for (const runId of runIds) {
    const at = runLocation(layout, runId);
    for await (const m of scanSubjects(nats.jsm, at.stream, at.subject, { direct: true }))
      lines.push(JSON.stringify({ runId, seq: m.seq, time: m.time.toISOString(), entries: m.json() }));
  }
  await writeFile(path, `${lines.join("\n")}\n`);
}

/** A run's error as `name: message` (its stack is noise here), else its output. */
const outcome = (run: ApiRun): string =>
  run.error ? `${run.error.name}: ${run.error.message}` : JSON.stringify(run.output);

const expectedOutput = (i: number) => ({ i, steps: [1, 2, 3, 4, 5].map((k) => i + k) });

/** Measures a settled (or timed-out) scenario; see `Measurement` for each figure. */
export async function measure(input: {
  gatewayUrl: string;
  nats: Nats;
  execLog: string;
  acked: readonly AckedEvent[];
  fault: FaultTimes;
  cronCutoff: number;
}): Promise<Measurement> {
  const { gatewayUrl, fault } = input;
  const lost: string[] = [];
  const stuck: StuckRun[] = [];
  const wrong: WrongOutcome[] = [];
  let completed = 0;
  const runIds: string[] = [];

  const byEvent = await mapLimit(input.acked, PARALLEL, async (e) => ({
    e,
    runs: await eventRuns(gatewayUrl, e.id),
  }));
  for (const { e, runs } of byEvent) {
    if (!runs || runs.length === 0) {
      lost.push(e.id);
      continue;
    }
    for (const run of runs) {
      runIds.push(run.run_id);
      if (runs.length > 1)
        wrong.push({ runId: run.run_id, why: `event ${e.id} started ${runs.length} runs` });
      if (!FINAL.has(run.status))
        stuck.push({ runId: run.run_id, kind: "event", status: run.status, phase: run.phase });
      else if (run.status === "Completed" && isDeepStrictEqual(run.output, expectedOutput(e.i))) completed++;
      else wrong.push({ runId: run.run_id, why: `event ${e.id}: ${run.status} ${outcome(run)}` });
    }
  }

  const cron = (await cronRuns(gatewayUrl)).filter((r) => startedAt(r) <= input.cronCutoff);
  for (const listed of cron) {
    runIds.push(listed.run_id);
    const run = await getJson<{ data: ApiRun }>(`${gatewayUrl}/v1/runs/${listed.run_id}`);
    const status = run?.data.status ?? listed.status;
    if (!FINAL.has(status))
      stuck.push({ runId: listed.run_id, kind: "cron", status, phase: run?.data.phase });
    else if (status !== "Completed" || !isDeepStrictEqual(run?.data.output, CRON_OUTPUT))
      wrong.push({ runId: listed.run_id, why: `cron run: ${status} ${run ? outcome(run.data) : ""}` });
  }

  const layout = await readRunsLayout(input.nats.jsm);
  const logs = new Map(
    await mapLimit(runIds, PARALLEL, async (id) => [id, await readRunLog(input.nats, layout, id)] as const),
  );
  const starts = parseExecLog(await readFile(input.execLog, "utf8").catch(() => ""));
  const { recordedTwice, ...findings } = analyse(logs, starts, fault);
  for (const r of recordedTwice)
    wrong.push({ runId: r.runId, why: `step ${r.step} recorded ${r.times} times` });
  return { acked: input.acked.length, lost, completed, stuck, ...findings, cronRuns: cron.length, wrong };
}
