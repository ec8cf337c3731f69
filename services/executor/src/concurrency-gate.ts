/**
 * Concurrency slots, enforced by the partition owner (every run sharing a key lives in the key's
 * partition). A call takes one slot of each of its run's keys for as long as the app executes it;
 * sleeping or waiting runs hold none. Waiting calls are granted in arrival order, but a call only
 * waits for its own keys: a busy key never holds back calls of an idle one.
 */
import { GaugeNames, type GaugeReading } from "@jetstep/telemetry";

export interface SlotKey {
  key: string;
  limit: number;
}

interface Waiter {
  keys: SlotKey[];
  /** Ordering time: enqueue time minus the run's priority. */
  rank: number;
  grant: () => void;
}

export class ConcurrencyGate {
  private readonly active = new Map<string, number>();
  private waiting: Waiter[] = [];

  /**
   * Resolves with a release function once a slot of every key is free. Waiters are granted by
   * `rank` (the enqueue time minus the run's priority), so a higher priority moves a run ahead of
   * work enqueued up to that much earlier; equal ranks keep arrival order.
   */
  async acquire(keys: SlotKey[], rank = 0): Promise<() => void> {
    if (keys.length === 0) return () => {};
    if (this.waiting.length === 0 && this.fits(keys)) this.take(keys);
    else {
      await new Promise<void>((grant) => {
        const w = { keys, rank, grant };
        const at = this.waiting.findIndex((x) => x.rank > rank);
        if (at === -1) this.waiting.push(w);
        else this.waiting.splice(at, 0, w);
        this.drain();
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const k of keys) {
        const n = (this.active.get(k.key) ?? 1) - 1;
        if (n <= 0) this.active.delete(k.key);
        else this.active.set(k.key, n);
      }
      this.drain();
    };
  }

  /** Slots in use per key (for tests and metrics). */
  inUse(key: string): number {
    return this.active.get(key) ?? 0;
  }

  /** Per key with slots in use or calls waiting: how many of each (gauges). */
  readings(): GaugeReading[] {
    const waiting = new Map<string, number>();
    for (const w of this.waiting) for (const k of w.keys) waiting.set(k.key, (waiting.get(k.key) ?? 0) + 1);
    const out: GaugeReading[] = [];
    for (const [key, n] of this.active)
      out.push({ name: GaugeNames.concurrencyInUse, value: n, attributes: { key } });
    for (const [key, n] of waiting)
      out.push({ name: GaugeNames.concurrencyWaiting, value: n, attributes: { key } });
    return out;
  }

  private fits(keys: SlotKey[]): boolean {
    return keys.every((k) => (this.active.get(k.key) ?? 0) < k.limit);
  }

  private take(keys: SlotKey[]): void {
    for (const k of keys) this.active.set(k.key, (this.active.get(k.key) ?? 0) + 1);
  }

  private drain(): void {
    const still: Waiter[] = [];
    for (const w of this.waiting) {
      if (this.fits(w.keys)) {
        this.take(w.keys);
        w.grant();
      } else still.push(w);
    }
    this.waiting = still;
  }
}
