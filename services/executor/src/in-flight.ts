/**
 * Calls this executor has in flight, per run and call key (a step id, `$discovery`, or a
 * compensation), each with its dispatch id (a discovery call's `ctx.qi_id`; "" for others) and a
 * token of its own. An answer counts only while its call is still the one recorded here (and
 * this process owns the run's partition when it comes). A partition given up keeps its runs'
 * calls: taken back, it records their answers instead of calling the steps again.
 */
interface Call {
  dispatch: string;
  token: number;
}

export class InFlightCalls {
  private readonly runs = new Map<string, { partition: number; calls: Map<string, Call> }>();
  private tokens = 0;
  /** Per partition, calls sent and not yet recorded; and who waits for that to reach 0. */
  private readonly out = new Map<number, number>();
  private readonly idle = new Map<number, (() => void)[]>();

  /** A call of a run in `partition` was sent to the app. */
  sent(partition: number): void {
    this.out.set(partition, (this.out.get(partition) ?? 0) + 1);
  }

  /** A sent call's answer was recorded (or given up on). */
  done(partition: number): void {
    const n = (this.out.get(partition) ?? 1) - 1;
    if (n > 0) {
      this.out.set(partition, n);
      return;
    }
    this.out.delete(partition);
    for (const wake of this.idle.get(partition) ?? []) wake();
    this.idle.delete(partition);
  }

  /** Resolves true once no sent call of `partition` is unrecorded, or false after `withinMs`. */
  settled(partition: number, withinMs: number): Promise<boolean> {
    if (!this.out.has(partition)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), withinMs);
      const waiting = this.idle.get(partition) ?? [];
      waiting.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.idle.set(partition, waiting);
    });
  }

  /** The dispatch id of the run's call under `key`, if one is in flight. */
  dispatchOf(runId: string, key: string): string | undefined {
    return this.runs.get(runId)?.calls.get(key)?.dispatch;
  }

  has(runId: string, key: string): boolean {
    return this.runs.get(runId)?.calls.has(key) ?? false;
  }

  /** Calls in flight for the run. */
  count(runId: string): number {
    return this.runs.get(runId)?.calls.size ?? 0;
  }

  /** Records a call; resolves with the token that ends it. */
  add(runId: string, partition: number, key: string, dispatch: string): number {
    let run = this.runs.get(runId);
    if (!run) {
      run = { partition, calls: new Map() };
      this.runs.set(runId, run);
    }
    const token = ++this.tokens;
    run.calls.set(key, { dispatch, token });
    return token;
  }

  /** Whether the call with `token` is still the run's call under `key`. */
  holds(runId: string, key: string, token: number): boolean {
    return this.runs.get(runId)?.calls.get(key)?.token === token;
  }

  /** Ends the call under `key` if it is still the one with `token`; says whether it was. */
  end(runId: string, key: string, token: number): boolean {
    const run = this.runs.get(runId);
    if (run?.calls.get(key)?.token !== token) return false;
    run.calls.delete(key);
    if (run.calls.size === 0) this.runs.delete(runId);
    return true;
  }

  /** Ends the call under `key` if its dispatch id is `dispatch`; says whether it was. */
  endDispatch(runId: string, key: string, dispatch: string): boolean {
    const call = this.runs.get(runId)?.calls.get(key);
    return call !== undefined && call.dispatch === dispatch && this.end(runId, key, call.token);
  }

  dropRun(runId: string): void {
    this.runs.delete(runId);
  }
}
