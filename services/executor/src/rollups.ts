/**
 * This executor's share of the function charts: what it records through `RunMetrics` (runs
 * started and ended, step attempts) is also counted per function and minute, and appended to
 * ROLLUPS every `flushMs` with the calls waiting for a throttle turn or a concurrency slot at that
 * moment (core's rollups.ts says how they merge). Records a flush could not append are tried
 * again with the next one (up to MAX_PENDING of them; a longer NATS outage loses the oldest).
 */
import { type FunctionRollup, RollupAccumulator } from "@jetstep/core";
import type { RollupLog } from "@jetstep/jetstream";
import type { Logger, RunMetrics } from "@jetstep/telemetry";

const MAX_PENDING = 10_000;
const STOP_FLUSH_MS = 2_000;

export interface RollupsDeps {
  log: Logger;
  now: () => number;
  /** This process (the executor's owner name). */
  source: string;
  store: RollupLog;
  flushMs: number;
}

/** Calls of each function waiting now: fnId → [appId, calls]. */
export type BacklogReader = () => ReadonlyMap<string, readonly [string, number]>;

export class Rollups {
  private readonly acc: RollupAccumulator;
  private pending: FunctionRollup[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: RollupsDeps) {
    this.acc = new RollupAccumulator(deps.source, deps.now);
  }

  /** `inner`, also counting what the charts draw. */
  counting(inner: RunMetrics): RunMetrics {
    const acc = this.acc;
    // Every method named: `inner` is usually a class instance, whose methods a spread would not copy.
    return {
      appCallError: (fn, app, errorClass) => inner.appCallError(fn, app, errorClass),
      eventsReceived: (source, count) => inner.eventsReceived(source, count),
      timerFired: (latenessMs) => inner.timerFired(latenessMs),
      addGauges: (source) => inner.addGauges(source),
      runStarted(fn, app) {
        inner.runStarted(fn, app);
        acc.runStarted(fn, app);
      },
      runEnded(fn, app, status, durationMs) {
        inner.runEnded(fn, app, status, durationMs);
        acc.runEnded(fn, app, status, durationMs);
      },
      stepAttempt(fn, app, outcome, durationMs) {
        inner.stepAttempt(fn, app, outcome, durationMs);
        acc.stepAttempt(fn, app, outcome !== "completed");
      },
    };
  }

  start(backlog: BacklogReader): void {
    this.timer = setInterval(() => void this.flush(backlog()), this.deps.flushMs);
    this.timer.unref();
  }

  /**
   * Stops flushing; with `flush` (a graceful stop), appends what is left first, for at most
   * STOP_FLUSH_MS (NATS away would otherwise hold the stop for the publisher's ack timeout).
   */
  async stop(flush: boolean): Promise<void> {
    clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_FLUSH_MS);
    });
    await Promise.race([flush ? this.flush(new Map()) : this.flushing, late]);
    clearTimeout(timer);
  }

  /** Appends what was counted since the last flush; one flush at a time. */
  flush(backlog: ReadonlyMap<string, readonly [string, number]>): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const records = [...this.pending, ...this.acc.take(backlog)].slice(-MAX_PENDING);
      this.pending = [];
      const results = await Promise.allSettled(records.map((r) => this.deps.store.append(r)));
      const failed = records.filter((_, i) => results[i]?.status === "rejected");
      if (failed.length > 0) {
        this.pending = failed;
        const reason = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        this.deps.log.debug(
          { err: reason.reason, records: failed.length },
          "function activity not appended; tried again with the next flush",
        );
      }
    });
    return this.flushing;
  }
}
