/**
 * Runs the executor keeps failing to move on. Each failure is retried where it happens (resuming
 * the run, firing its timer, recording an answer); this only keeps count, per run and kind, since
 * the last time that kind worked. A run failing for `stuckAfterMs` (and at least `minFailures`
 * times) is *stuck*: the executor logs why and lists it as `Stuck`, and lists it as running again
 * once every kind that failed has worked.
 */
export type TroubleKind = "resume" | "timer" | "record";

interface Trouble {
  /** When the oldest failure not yet cleared happened. */
  since: number;
  failures: number;
  /** Failing kinds with their latest error message. */
  kinds: Map<TroubleKind, string>;
  stuck: boolean;
}

export interface StuckRun {
  runId: string;
  reason: string;
  since: number;
  failures: number;
}

export class RunTroubles {
  private readonly runs = new Map<string, Trouble>();

  constructor(
    private readonly stuckAfterMs: number,
    private readonly now: () => number,
    private readonly minFailures = 3,
  ) {}

  /** Notes a failure of `kind`; resolves the run's stuck state when it has just become stuck. */
  failed(runId: string, kind: TroubleKind, reason: string): StuckRun | undefined {
    let t = this.runs.get(runId);
    if (!t) {
      t = { since: this.now(), failures: 0, kinds: new Map(), stuck: false };
      this.runs.set(runId, t);
    }
    t.failures++;
    t.kinds.set(kind, reason);
    if (t.stuck || t.failures < this.minFailures || this.now() - t.since < this.stuckAfterMs)
      return undefined;
    t.stuck = true;
    return { runId, reason: `${kind}: ${reason}`, since: t.since, failures: t.failures };
  }

  /**
   * Notes that `kind` worked for the run. True when the run was stuck and nothing fails any more
   * (it is listed as running again).
   */
  cleared(runId: string, kind: TroubleKind): boolean {
    const t = this.runs.get(runId);
    if (!t?.kinds.delete(kind) || t.kinds.size > 0) return false;
    this.runs.delete(runId);
    return t.stuck;
  }

  /** Forgets the run (it ended, or this executor no longer owns it). */
  forget(runId: string): void {
    this.runs.delete(runId);
  }

  isStuck(runId: string): boolean {
    return this.runs.get(runId)?.stuck === true;
  }

  /** Runs with failures not yet cleared. */
  get size(): number {
    return this.runs.size;
  }
}
