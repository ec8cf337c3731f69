/**
 * Throttle, applied when a throttled run actually starts (its first call), as Inngest does when it
 * leases a queue item:
 *
 * - **Order.** The matcher queues each run under its throttle key in THROTTLE with its event's
 *   EVENTS sequence. A run waits (`turn`) until it is the queue's head (the earliest event) and
 *   every earlier event has been matched (`arrived`: the matchers' ack floor; several matchers
 *   handle events at once, so a later event's run can be queued before an earlier one's), holding
 *   nothing (no concurrency slot, no call slot). Runs start in the order their events arrived and
 *   none is dropped. An earlier event stuck in the matchers holds the head back ORDER_GRACE_MS at
 *   most.
 * - **Rate.** The head then waits (`due`) until a start is due by the clock at that moment, under
 *   a GCRA kept in FLOW (compare-and-set, shared by every executor), and claims it (`take`). A
 *   start delayed by load never lets the next one come early.
 *
 * The run leaves the queue (`leave`) once its first call was answered and recorded, or when it
 * ends: a start whose call was voided (the partition changed hands) is taken again, in its place,
 * so the app sees the runs in their order. Whoever changes
 * a queue tells every executor (core NATS, `Subjects.throttleTurn`), which then reads that queue's
 * head once, however many of its runs wait there; each queue with waiters is also read every
 * POLL_MS in case a message was lost. A head that stays put for STALE_MS is checked: if its run
 * has ended (or was never made), it is taken out, so one lost removal cannot stop a queue.
 *
 * Runs scheduled before the queue existed (`queued` absent) take the next due start, unordered.
 */
import { type ThrottleSpec, throttleSlot } from "@jetstep/core";
import { type FlowStore, type QueuedRun, type ThrottleQueue, throttleToken } from "@jetstep/jetstream";

/** Compare-and-set attempts of one `take` before it gives up (and the caller waits again). */
const TAKE_ATTEMPTS = 5;
const POLL_MS = 1000;
const STALE_MS = 30_000;
const ORDER_GRACE_MS = 2000;
/** How soon a head held back only by the matchers' ack floor looks again. */
const ARRIVAL_POLL_MS = 50;

interface Waiters {
  key: string;
  runs: Map<string, (() => void)[]>;
  checking: boolean;
  again: boolean;
  poll?: ReturnType<typeof setTimeout>;
  /** The head last seen, and since when. */
  head?: { seq: number; since: number; checkedAt: number };
}

export interface ThrottleGateDeps {
  /** FLOW: the GCRA time of each throttle key. */
  flow: Pick<FlowStore, "get" | "compareAndSet">;
  queue: ThrottleQueue;
  now: () => number;
  /** Tells every executor that the queue of `token` changed. */
  notify: (token: string) => void;
  /** Whether a queued run will never take its start (ended, or never made). */
  gone: (run: QueuedRun) => Promise<boolean>;
  /** Whether every event before EVENTS sequence `eventSeq` has been matched (its runs queued). */
  arrived: (eventSeq: number) => Promise<boolean>;
  onError: (err: unknown, message: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export class ThrottleGate {
  private readonly waiters = new Map<string, Waiters>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: ThrottleGateDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  /**
   * Waits until `runId` is the head of its queue. Resolves true when it is to take a start
   * (`due`, then `take`), false when it is not queued (it took its start before: a first call
   * tried again starts at once).
   */
  async turn(spec: ThrottleSpec, runId: string): Promise<boolean> {
    if (!spec.queued) return true;
    if (!(await this.deps.queue.waiting(spec.key, runId))) return false;
    await new Promise<void>((resolve) => {
      const token = throttleToken(spec.key);
      let w = this.waiters.get(token);
      if (!w) {
        w = { key: spec.key, runs: new Map(), checking: false, again: false };
        this.waiters.set(token, w);
      }
      w.runs.set(runId, [...(w.runs.get(runId) ?? []), resolve]);
      void this.check(token);
    });
    return true;
  }

  /** Resolves once a start under `spec` is due by the stored state (reads only). */
  async due(spec: ThrottleSpec): Promise<void> {
    for (;;) {
      const { startAt } = throttleSlot(
        tatOf((await this.deps.flow.get(spec.key))?.value),
        this.deps.now(),
        spec,
      );
      const wait = startAt - this.deps.now();
      if (wait <= 0) return;
      await this.sleep(wait);
    }
  }

  /**
   * Claims a start under `spec` now: resolves the time it was claimed for (the next start is due
   * a full interval after it), or undefined when none is due (the caller waits again).
   */
  take(spec: ThrottleSpec): Promise<number | undefined> {
    return this.claim(spec);
  }

  /** Takes `runId` out of its queue (it started, or ended waiting) and tells the others. */
  async leave(spec: ThrottleSpec, runId: string): Promise<void> {
    if (!spec.queued) return;
    const token = throttleToken(spec.key);
    await this.deps.queue.remove(spec.key, runId);
    // A waiter of a run that ended goes on (and finds the run gone).
    this.wake(token, runId);
    this.deps.notify(token);
  }

  /** The queue of `token` changed somewhere: read its head again (if anything here waits on it). */
  changed(token: string): void {
    if (this.waiters.has(token)) void this.check(token);
  }

  stop(): void {
    for (const w of this.waiters.values()) clearTimeout(w.poll);
    this.waiters.clear();
  }

  private wake(token: string, runId: string): void {
    const w = this.waiters.get(token);
    const resolvers = w?.runs.get(runId);
    if (!w || !resolvers) return;
    w.runs.delete(runId);
    for (const r of resolvers) r();
    if (w.runs.size === 0) {
      clearTimeout(w.poll);
      this.waiters.delete(token);
    }
  }

  /** Reads the head of `token`'s queue and lets its run go if it waits here. One read at a time. */
  private async check(token: string): Promise<void> {
    const w = this.waiters.get(token);
    if (!w) return;
    if (w.checking) {
      w.again = true;
      return;
    }
    w.checking = true;
    clearTimeout(w.poll);
    try {
      do {
        w.again = false;
        const head = await this.deps.queue.head(w.key);
        if (!head) {
          // Nobody queued: whoever waits here left the queue meanwhile (each looks again).
          for (const runId of [...w.runs.keys()]) this.wake(token, runId);
        } else if (w.runs.has(head.runId)) {
          if (this.deps.now() - head.ts >= ORDER_GRACE_MS || (await this.deps.arrived(head.eventSeq)))
            this.wake(token, head.runId);
          else {
            // An earlier event may still be on its way into the queue: look again soon.
            await this.sleep(ARRIVAL_POLL_MS);
            w.again = true;
          }
        } else if (await this.staleHead(w, head)) {
          await this.deps.queue.remove(w.key, head.runId);
          this.deps.notify(token);
          w.again = true;
        }
      } while (w.again && this.waiters.get(token) === w);
    } catch (e) {
      this.deps.onError(e, "could not read a throttle queue; trying again");
    } finally {
      w.checking = false;
      if (this.waiters.get(token) === w) w.poll = setTimeout(() => void this.check(token), POLL_MS);
    }
  }

  /** Whether a head that has not moved for STALE_MS belongs to a run that will never start. */
  private async staleHead(w: Waiters, head: QueuedRun): Promise<boolean> {
    const now = this.deps.now();
    if (w.head?.seq !== head.seq) {
      w.head = { seq: head.seq, since: now, checkedAt: now };
      return false;
    }
    if (now - w.head.since < STALE_MS || now - w.head.checkedAt < STALE_MS) return false;
    w.head.checkedAt = now;
    return this.deps.gone(head);
  }

  private async claim(spec: ThrottleSpec): Promise<number | undefined> {
    for (let attempt = 0; attempt < TAKE_ATTEMPTS; attempt++) {
      const current = await this.deps.flow.get(spec.key);
      const now = this.deps.now();
      const slot = throttleSlot(tatOf(current?.value), now, spec);
      if (slot.startAt > now) return undefined;
      // Lost (or failed): another executor took a start meanwhile: look again.
      const took = await this.deps.flow.compareAndSet(spec.key, String(slot.tat), current).catch(() => null);
      if (took?.ok) return now;
    }
    return undefined;
  }
}

/** The GCRA time stored for a throttle key (undefined: none, or not a number). */
function tatOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const tat = Number(value);
  return Number.isFinite(tat) ? tat : undefined;
}
