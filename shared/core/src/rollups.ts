/**
 * Function activity over time, for the charts of a function's page: what each executor counted,
 * rolled up per function and per minute (runs started and ended by status, run durations as
 * histogram buckets, step attempts, and the calls waiting for a throttle turn or a concurrency
 * slot), appended to the ROLLUPS stream every few seconds, and merged into the bins of a time
 * range when read.
 *
 * A record covers part of one minute of one process: a process appends several for the same
 * minute (one per flush that had something to say), and several processes append for the same
 * minute. Counts add up across all of them; the backlog, a sample, is the largest a process
 * reported in the bin, summed over processes.
 */
import { z } from "zod";

export const MINUTE_MS = 60_000;

/**
 * Upper bounds (ms) of the run-duration buckets; a last bucket counts everything longer. From
 * 10 ms to a day: runs take milliseconds to days.
 */
export const ROLLUP_DURATION_BOUNDS_MS = [
  10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
  21_600_000, 86_400_000,
] as const;

export const FunctionRollupSchema = z.object({
  fnId: z.string(),
  appId: z.string(),
  /** The minute covered (its start, ms since the epoch). */
  minute: z.number().int(),
  /** The process that counted (one executor). */
  source: z.string(),
  started: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  cancelled: z.number().int().nonnegative(),
  /** Runs ended, per bucket of ROLLUP_DURATION_BOUNDS_MS (one more: the overflow). */
  durations: z.array(z.number().int().nonnegative()),
  stepAttempts: z.number().int().nonnegative(),
  /** Step attempts that failed (retried or not). */
  stepErrors: z.number().int().nonnegative(),
  /** Calls of the function waiting for a throttle turn or a concurrency slot, at the flush. */
  backlog: z.number().int().nonnegative(),
});
export type FunctionRollup = z.infer<typeof FunctionRollupSchema>;

type Counts = Omit<FunctionRollup, "fnId" | "appId" | "minute" | "source">;

const emptyCounts = (): Counts => ({
  started: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  durations: new Array(ROLLUP_DURATION_BOUNDS_MS.length + 1).fill(0),
  stepAttempts: 0,
  stepErrors: 0,
  backlog: 0,
});

/** The bucket of a duration: the first whose bound it does not exceed. */
export function durationBucket(ms: number): number {
  const i = ROLLUP_DURATION_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? ROLLUP_DURATION_BOUNDS_MS.length : i;
}

export type RunEndStatus = "completed" | "failed" | "cancelled";

/**
 * What one process counted since its last flush, per function and minute. `take` hands over the
 * records and starts afresh, so each count is appended once.
 */
export class RollupAccumulator {
  private readonly open = new Map<string, FunctionRollup>();

  constructor(
    private readonly source: string,
    private readonly now: () => number,
  ) {}

  runStarted(fnId: string, appId: string): void {
    this.entry(fnId, appId).started++;
  }

  runEnded(fnId: string, appId: string, status: RunEndStatus, durationMs: number): void {
    const e = this.entry(fnId, appId);
    e[status]++;
    const b = durationBucket(Math.max(0, durationMs));
    e.durations[b] = (e.durations[b] ?? 0) + 1;
  }

  stepAttempt(fnId: string, appId: string, failed: boolean): void {
    const e = this.entry(fnId, appId);
    e.stepAttempts++;
    if (failed) e.stepErrors++;
  }

  /**
   * The records to append: everything counted since the last take, plus, for each function with
   * calls waiting now (`backlog`: fnId → [appId, calls]), the sample. Functions with nothing to
   * say are left out.
   */
  take(backlog: ReadonlyMap<string, readonly [string, number]> = new Map()): FunctionRollup[] {
    for (const [fnId, [appId, n]] of backlog) {
      if (n <= 0) continue;
      const e = this.entry(fnId, appId);
      e.backlog = Math.max(e.backlog, n);
    }
    const out = [...this.open.values()];
    this.open.clear();
    return out;
  }

  private entry(fnId: string, appId: string): FunctionRollup {
    const minute = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS;
    const key = `${minute}\u0000${fnId}`;
    let e = this.open.get(key);
    if (!e) {
      e = { fnId, appId, minute, source: this.source, ...emptyCounts() };
      this.open.set(key, e);
    }
    return e;
  }
}

/** One bin of a function's activity chart. */
export interface ActivityPoint {
  /** The bin's start (ms since the epoch). */
  t: number;
  started: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Failed runs among the runs that ended in the bin (0–1); null when none ended. */
  failureRate: number | null;
  /** Run duration percentiles (ms) of the runs that ended in the bin; null when none ended. */
  p50Ms: number | null;
  p95Ms: number | null;
  stepAttempts: number;
  stepErrors: number;
  /** Calls waiting for a throttle turn or a concurrency slot (the largest sample in the bin). */
  backlog: number;
}

/**
 * Bins of `stepMs` (a multiple of a minute) from `from` rounded down to a step until `to`, with
 * the records that fall in them merged. Bins nothing was recorded in count zero.
 */
export function mergeRollups(
  records: Iterable<FunctionRollup>,
  fromMs: number,
  toMs: number,
  stepMs: number,
): ActivityPoint[] {
  const start = Math.floor(fromMs / stepMs) * stepMs;
  const n = Math.max(0, Math.ceil((toMs - start) / stepMs));
  const bins = Array.from({ length: n }, () => ({
    counts: emptyCounts(),
    backlogBySource: new Map<string, number>(),
  }));
  for (const r of records) {
    const i = Math.floor((r.minute - start) / stepMs);
    const bin = bins[i];
    if (!bin || r.minute >= toMs) continue;
    const c = bin.counts;
    c.started += r.started;
    c.completed += r.completed;
    c.failed += r.failed;
    c.cancelled += r.cancelled;
    c.stepAttempts += r.stepAttempts;
    c.stepErrors += r.stepErrors;
    r.durations.forEach((k, b) => {
      if (b < c.durations.length) c.durations[b] = (c.durations[b] ?? 0) + k;
    });
    bin.backlogBySource.set(r.source, Math.max(bin.backlogBySource.get(r.source) ?? 0, r.backlog));
  }
  return bins.map(({ counts: c, backlogBySource }, i) => {
    const ended = c.completed + c.failed + c.cancelled;
    let backlog = 0;
    for (const v of backlogBySource.values()) backlog += v;
    return {
      t: start + i * stepMs,
      started: c.started,
      completed: c.completed,
      failed: c.failed,
      cancelled: c.cancelled,
      failureRate: ended === 0 ? null : c.failed / ended,
      p50Ms: bucketQuantile(c.durations, 0.5),
      p95Ms: bucketQuantile(c.durations, 0.95),
      stepAttempts: c.stepAttempts,
      stepErrors: c.stepErrors,
      backlog,
    };
  });
}

/**
 * The q-quantile of durations counted in ROLLUP_DURATION_BOUNDS_MS buckets, interpolated linearly
 * inside the bucket it falls in (as Prometheus' `histogram_quantile` does); the overflow bucket
 * answers its lower bound. Null without any count.
 */
export function bucketQuantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const k = counts[i] ?? 0;
    if (k > 0 && below + k >= rank) {
      const lo = i === 0 ? 0 : (ROLLUP_DURATION_BOUNDS_MS[i - 1] ?? 0);
      const hi = ROLLUP_DURATION_BOUNDS_MS[i];
      if (hi === undefined) return lo;
      return lo + (hi - lo) * Math.min(1, Math.max(0, (rank - below) / k));
    }
    below += k;
  }
  return ROLLUP_DURATION_BOUNDS_MS.at(-1) ?? null;
}
