/**
 * The timers of the runs in owned partitions: durable in TIMERS (one message each), held in
 * memory in a heap that fires them. Each timer's TIMERS sequence is known from the moment it is
 * armed or loaded until it is handled or dropped (a fired timer waits for its run, and a wait
 * matched meanwhile drops it), so a timer the run no longer needs leaves TIMERS too.
 */
import type { StoredTimer, TimerStore } from "@jetstep/jetstream";
import { type HeapTimer, TimerHeap } from "./timer-heap.ts";

export type { HeapTimer } from "./timer-heap.ts";

/** What a timer needs of TIMERS: writing one, and deleting it by sequence. */
export type TimerBacking = Pick<TimerStore, "arm" | "remove">;

export class RunTimers {
  private readonly heap: TimerHeap;
  /** TIMERS sequence and partition of every timer known here, by `TimerHeap.key`. */
  private readonly seqs = new Map<string, { seq: number; partition: number }>();

  constructor(
    private readonly store: TimerBacking,
    private readonly now: () => number,
    fire: (t: HeapTimer) => void,
  ) {
    this.heap = new TimerHeap(now, fire);
  }

  /** Timers read from TIMERS when a partition is taken over. */
  loaded(timers: readonly StoredTimer[]): void {
    for (const t of timers) this.hold(t);
  }

  /** Arms the run's timers that are not armed here yet; written together (a fan-out arms thousands). */
  async arm(
    runId: string,
    partition: number,
    due: readonly { timerId: string; fireAt: number }[],
  ): Promise<void> {
    await Promise.all(
      due.map(async (t) => {
        if (this.heap.has(runId, t.timerId)) return;
        this.hold(await this.store.arm({ runId, timerId: t.timerId, partition, fireAt: t.fireAt }));
      }),
    );
  }

  /** A fired timer was handled: it is forgotten and deleted from TIMERS. */
  async handled(t: HeapTimer): Promise<void> {
    // Armed again since it fired (the run needed it before the firing was handled): keep that one.
    if (this.seqs.get(t.key)?.seq === t.seq) this.seqs.delete(t.key);
    await this.store.remove(t.seq);
  }

  /** Fires `t` again after `delayMs` (handling it failed). */
  retry(t: HeapTimer, delayMs: number): void {
    setTimeout(() => this.heap.add({ ...t, fireAt: this.now() }), delayMs).unref();
  }

  /** Removes a timer from the heap and, if its sequence is known here, from TIMERS. */
  async drop(runId: string, timerId: string): Promise<void> {
    const key = TimerHeap.key(runId, timerId);
    const known = this.seqs.get(key);
    this.heap.remove(runId, timerId);
    this.seqs.delete(key);
    if (known !== undefined) await this.store.remove(known.seq);
  }

  /** Forgets a partition's timers (given up; its next owner loads them from TIMERS). */
  dropPartition(partition: number): void {
    this.heap.dropPartition(partition);
    for (const [key, t] of this.seqs) if (t.partition === partition) this.seqs.delete(key);
  }

  stop(): void {
    this.heap.stop();
  }

  /** Timers known here (pending, or fired and not handled yet). */
  get size(): number {
    return this.seqs.size;
  }

  private hold(t: StoredTimer): void {
    this.seqs.set(TimerHeap.key(t.runId, t.timerId), { seq: t.seq, partition: t.partition });
    this.heap.add({
      runId: t.runId,
      timerId: t.timerId,
      partition: t.partition,
      fireAt: t.fireAt,
      seq: t.seq,
    });
  }
}
