/**
 * The partition owner's in-memory timers: a binary min-heap by fire time with one `setTimeout`
 * for the earliest entry. Entries are keyed `<runId>/<timerId>`; removing marks them dead (lazy
 * deletion) so both operations stay O(log n).
 */
export interface HeapTimer {
  key: string;
  runId: string;
  timerId: string;
  partition: number;
  fireAt: number;
  seq: number;
}

export class TimerHeap {
  private heap: HeapTimer[] = [];
  private readonly live = new Map<string, HeapTimer>();
  private handle: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly fire: (t: HeapTimer) => void,
  ) {}

  static key(runId: string, timerId: string): string {
    return `${runId}/${timerId}`;
  }

  get size(): number {
    return this.live.size;
  }

  has(runId: string, timerId: string): boolean {
    return this.live.has(TimerHeap.key(runId, timerId));
  }

  add(t: Omit<HeapTimer, "key">): void {
    const key = TimerHeap.key(t.runId, t.timerId);
    if (this.live.has(key)) return;
    const entry = { ...t, key };
    this.live.set(key, entry);
    this.heap.push(entry);
    this.up(this.heap.length - 1);
    this.schedule();
  }

  remove(runId: string, timerId: string): void {
    this.live.delete(TimerHeap.key(runId, timerId));
  }

  /** Drops every timer of a partition (lease lost). */
  dropPartition(partition: number): void {
    for (const [k, t] of this.live) if (t.partition === partition) this.live.delete(k);
  }

  stop(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private schedule(): void {
    this.prune();
    const top = this.heap[0];
    if (!top) {
      this.stop();
      return;
    }
    if (top.fireAt >= this.armedFor && this.handle) return;
    if (this.handle) clearTimeout(this.handle);
    this.armedFor = top.fireAt;
    const delay = Math.max(0, Math.min(top.fireAt - this.now(), 2_000_000_000));
    // Unref'd: pending timers must not keep a stopping process alive (they are durable in TIMERS).
    this.handle = setTimeout(() => this.run(), delay);
    this.handle.unref();
  }

  private run(): void {
    this.handle = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (;;) {
      this.prune();
      const top = this.heap[0];
      if (!top || top.fireAt > now) break;
      this.pop();
      this.live.delete(top.key);
      this.fire(top);
    }
    this.schedule();
  }

  private prune(): void {
    while (this.heap.length > 0 && this.live.get((this.heap[0] as HeapTimer).key) !== this.heap[0])
      this.pop();
  }

  private pop(): void {
    const last = this.heap.pop();
    if (this.heap.length > 0 && last) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as HeapTimer).fireAt <= (h[i] as HeapTimer).fireAt) break;
      [h[parent], h[i]] = [h[i] as HeapTimer, h[parent] as HeapTimer];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && (h[l] as HeapTimer).fireAt < (h[m] as HeapTimer).fireAt) m = l;
      if (r < h.length && (h[r] as HeapTimer).fireAt < (h[m] as HeapTimer).fireAt) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i] as HeapTimer, h[m] as HeapTimer];
      i = m;
    }
  }
}
