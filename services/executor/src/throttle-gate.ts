/**
 * Throttle, applied when a throttled run's first call goes out. The matcher already gave each run a
 * start time spaced `period / limit` apart, which the run waits for on a durable timer; but a start
 * delayed by load (a late timer, a busy event loop) would let the next run, on time, start less
 * than that after it. So the executor keeps a second GCRA over the FLOW bucket (compare-and-set,
 * shared by every executor) and takes a start only when it is due by the clock at that moment.
 *
 * `ready` waits, reading only, until the next start looks free; `take` then claims it, or says
 * another run took it first (the caller waits again). The caller holds no call slot in between.
 */
import { type ThrottleSpec, throttleSlot } from "@jetstep/core";
import type { KV } from "@jetstep/jetstream";

/** Compare-and-set attempts of one `take` before it gives up (and the caller waits again). */
const TAKE_ATTEMPTS = 5;

export class ThrottleGate {
  constructor(
    private readonly kv: KV,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((r) => setTimeout(r, ms).unref()),
  ) {}

  /** Resolves once a start under `spec` is due by the stored state (reads only). */
  async ready(spec: ThrottleSpec): Promise<void> {
    for (;;) {
      const { startAt } = throttleSlot((await this.read(spec)).tat, this.now(), spec);
      const wait = startAt - this.now();
      if (wait <= 0) return;
      await this.sleep(wait);
    }
  }

  /**
   * Claims a start under `spec` now: resolves the time it was claimed for (the next start is due a
   * full interval after it), or undefined when none is due (another run took it).
   */
  async take(spec: ThrottleSpec): Promise<number | undefined> {
    for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
      const { tat, revision } = await this.read(spec);
      const now = this.now();
      const slot = throttleSlot(tat, now, spec);
      if (slot.startAt > now) return undefined;
      try {
        if (revision === undefined) await this.kv.create(spec.key, String(slot.tat));
        else await this.kv.update(spec.key, String(slot.tat), revision);
        return now;
      } catch {
        // another executor took a start meanwhile: look again
      }
    }
    return undefined;
  }

  private async read(spec: ThrottleSpec): Promise<{ tat?: number; revision?: number }> {
    const e = await this.kv.get(spec.key);
    if (!e) return {};
    if (e.operation !== "PUT") return { revision: e.revision };
    const tat = Number(e.string());
    return { ...(Number.isFinite(tat) ? { tat } : {}), revision: e.revision };
  }
}
