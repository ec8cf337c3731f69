/**
 * Found memoized steps waiting to be resolved: those with a position in completion order come out
 * earliest position first (a binary heap), the others in the order found, after them. A call
 * replaying 10,000 memoized invokes scanned the whole queue and the stack for every step (O(n²)
 * each time, minutes in all).
 */
export class MemoQueue<T extends { readonly hashedId: string }> {
  readonly #byId = new Map<string, T>();
  readonly #heap: { pos: number; step: T }[] = [];
  readonly #unordered: T[] = [];
  #head = 0;

  get size(): number {
    return this.#byId.size;
  }

  get(hashedId: string): T | undefined {
    return this.#byId.get(hashedId);
  }

  push(step: T, pos: number | undefined): void {
    this.#byId.set(step.hashedId, step);
    if (pos === undefined) {
      this.#unordered.push(step);
      return;
    }
    const heap = this.#heap;
    heap.push({ pos, step });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as { pos: number }).pos <= pos) break;
      [heap[i], heap[parent]] = [heap[parent] as (typeof heap)[number], heap[i] as (typeof heap)[number]];
      i = parent;
    }
  }

  shift(): T | undefined {
    const step = this.#heap.length > 0 ? this.#popHeap() : this.#unordered[this.#head++];
    if (this.#head === this.#unordered.length) {
      this.#unordered.length = 0;
      this.#head = 0;
    }
    if (step) this.#byId.delete(step.hashedId);
    return step;
  }

  #popHeap(): T {
    const heap = this.#heap;
    const top = heap[0] as (typeof heap)[number];
    const last = heap.pop() as (typeof heap)[number];
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && (heap[l] as typeof last).pos < (heap[m] as typeof last).pos) m = l;
        if (r < heap.length && (heap[r] as typeof last).pos < (heap[m] as typeof last).pos) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as typeof last, heap[i] as typeof last];
        i = m;
      }
    }
    return top.step;
  }
}
