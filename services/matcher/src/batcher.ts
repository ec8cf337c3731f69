/**
 * `batchEvents: { maxSize, timeout, key?, if? }`: events of a function are collected per key value
 * in the BATCHES bucket (event ids and EVENTS sequences; compare-and-set on every change) and one
 * run receives them all — when the batch is full, or `timeout` after its first event. Events that
 * fail `if` run on their own. Every matcher watches the bucket for deadlines; the compare-and-set
 * delete makes one of them the flusher, and the run id derived from the batch makes a repeated
 * start a no-op.
 */

import { type FunctionSpec, Keys, runIdFor, type StoredEvent, StoredEventSchema } from "@jetstep/core";
import type { BatchStore, EventLog, RegisteredFunction } from "@jetstep/jetstream";
import { keyHash } from "./idempotency.ts";
import type { MatcherLog } from "./matcher-log.ts";

/** A function's `batchEvents`, normalised. */
export type BatchSpec = NonNullable<FunctionSpec["batch"]>;

interface Batch {
  batchId: string;
  fnId: string;
  items: { id: string; seq: number }[];
  firstTs: number;
  deadline: number;
}

export type StartBatchRun = (
  f: RegisteredFunction,
  runId: string,
  events: StoredEvent[],
  firstSeq: number,
) => Promise<void>;

export class Batcher {
  private readonly deadlines = new Map<string, number>();
  private stopWatch: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: BatchStore<Batch>,
    private readonly events: Pick<EventLog, "at">,
    private readonly functions: () => RegisteredFunction[],
    private readonly start: StartBatchRun,
    private readonly log: MatcherLog,
    private readonly now: () => number,
  ) {}

  async watch(): Promise<void> {
    const follower = this.store.follow({
      onPut: (key, batch) => this.deadlines.set(key, batch.deadline),
      onRemove: (key) => this.deadlines.delete(key),
      onResync: (present) => {
        for (const key of [...this.deadlines.keys()]) if (!present.has(key)) this.deadlines.delete(key);
      },
      onWarn: (message, err) => this.log.warn({ err }, `batches: ${message}`),
    });
    this.stopWatch = () => follower.stop();
    await follower.start();
    this.sweeper = setInterval(
      () => void this.sweep().catch((err) => this.log.warn({ err }, "batch sweep failed")),
      250,
    );
    this.sweeper.unref();
  }

  stop(): void {
    this.stopWatch?.();
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /**
   * Adds the event to its batch and returns the run id the batch will start, or undefined when the
   * event is not batched (its `if` is false) and should start a run of its own.
   */
  async add(
    f: RegisteredFunction,
    cfg: BatchSpec,
    event: StoredEvent,
    seq: number,
  ): Promise<string | undefined> {
    if (cfg.if && !cfg.if.test({ event }).value) return undefined;
    const keyValue = cfg.key ? cfg.key.evaluate({ event }) : { value: "" };
    const key = Keys.batch(
      f.fn.id,
      keyHash(keyValue.error === undefined ? keyValue.value : { defaultBucket: true }),
    );
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await this.store.get(key);
      let batch: Batch;
      if (current?.value === undefined) {
        batch = {
          batchId: event.id,
          fnId: f.fn.id,
          items: [{ id: event.id, seq }],
          firstTs: event.ts,
          deadline: this.now() + cfg.timeoutMs,
        };
      } else {
        batch = current.value;
        const runId = runIdFor(batch.batchId, batch.fnId, batch.firstTs);
        if (batch.items.some((i) => i.id === event.id)) return runId; // redelivered
        if (batch.items.length >= cfg.maxSize || batch.deadline <= this.now()) {
          // Full or due: its flusher is starting the run and deleting it; join the next batch.
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        batch.items.push({ id: event.id, seq });
      }
      const written = await this.store.compareAndSet(key, batch, current);
      if (!written.ok) continue; // lost a compare-and-set race: read again
      return await this.afterAdd(f, cfg, key, batch, written.revision);
    }
    throw new Error(`could not add event ${event.id} to a batch of ${f.fn.id}: too much contention`);
  }

  private async afterAdd(
    f: RegisteredFunction,
    cfg: BatchSpec,
    key: string,
    batch: Batch,
    rev: number,
  ): Promise<string> {
    const runId = runIdFor(batch.batchId, batch.fnId, batch.firstTs);
    if (batch.items.length >= cfg.maxSize) await this.flush(f, key, batch, rev);
    return runId;
  }

  private async sweep(): Promise<void> {
    const now = this.now();
    for (const [key, deadline] of this.deadlines) {
      if (deadline > now) continue;
      const e = await this.store.get(key);
      const batch = e?.value;
      if (!e || !batch) {
        this.deadlines.delete(key);
        continue;
      }
      if (batch.deadline > now) continue;
      const f = this.functions().find((x) => x.fn.id === batch.fnId);
      if (!f) {
        this.log.warn({}, `dropping the batch of unregistered function ${batch.fnId}`);
        await this.store.removeAt(key, e.revision);
        continue;
      }
      await this.flush(f, key, batch, e.revision);
    }
  }

  /** Starts the batch's run with all its events, then deletes the batch (only at this revision). */
  private async flush(f: RegisteredFunction, key: string, batch: Batch, rev: number): Promise<void> {
    const events: StoredEvent[] = [];
    for (const item of batch.items) {
      const stored = await this.events.at(item.seq);
      const parsed = stored ? StoredEventSchema.safeParse(stored) : undefined;
      if (parsed?.success) events.push(parsed.data);
    }
    if (events.length > 0)
      await this.start(
        f,
        runIdFor(batch.batchId, batch.fnId, batch.firstTs),
        events,
        batch.items[0]?.seq ?? 0,
      );
    await this.store.removeAt(key, rev);
    this.deadlines.delete(key);
  }
}
