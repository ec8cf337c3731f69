/**
 * Durable timers: one message per timer in TIMERS (`timer.<partition>.<runId>.<timerId>`). The
 * partition owner loads them when it takes the lease and keeps them in an in-memory heap; a fired
 * or obsolete timer's message is deleted.
 */
import { Streams, Subjects, type TimerRecord, TimerRecordSchema } from "@jetstep/core";
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { isNotFound } from "./errors.ts";
import { idleTimeout, withTimeout } from "./idle-timeout.ts";
import type { Publisher } from "./publisher.ts";
import { ORDERED_STEP_MS, scanSubjects } from "./subject-scan.ts";

export interface StoredTimer extends TimerRecord {
  seq: number;
}

export class TimerStore {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly publisher: Publisher,
  ) {}

  /** Arms a timer; re-arming the same (run, timer) id within 2 min is deduplicated. */
  async arm(timer: TimerRecord): Promise<StoredTimer> {
    const seq = await this.publisher.publishJson(
      Subjects.timer(timer.partition, timer.runId, timer.timerId),
      timer,
      {
        msgId: `${timer.runId}-${timer.timerId}`,
      },
    );
    return { ...timer, seq };
  }

  async remove(seq: number): Promise<void> {
    try {
      await this.jsm.streams.deleteMessage(Streams.timers, seq, false);
    } catch (e) {
      // Already gone (deleted by a previous owner, or never stored): nothing to do.
      if (!isNotFound(e)) throw e;
    }
  }

  /** All timers of a partition, read by `scanSubjects` (no consumer). */
  async scan(partition: number): Promise<StoredTimer[]> {
    const out: StoredTimer[] = [];
    for await (const m of scanSubjects(this.jsm, Streams.timers, Subjects.partitionTimers(partition))) {
      const parsed = TimerRecordSchema.safeParse(m.json());
      if (parsed.success) out.push({ ...parsed.data, seq: m.seq });
    }
    return out;
  }

  /**
   * All timers of a partition (once per lease takeover), read with one ordered consumer: the fast
   * way, but it needs a consumer (see `ReadPath` for choosing between this and `scan`).
   */
  async load(partition: number): Promise<StoredTimer[]> {
    const what = `loading timers of partition ${partition}`;
    const consumer = await withTimeout(
      this.js.consumers.get(Streams.timers, {
        filter_subjects: Subjects.partitionTimers(partition),
        deliver_policy: DeliverPolicy.All,
      }),
      ORDERED_STEP_MS,
      what,
    );
    const info = await withTimeout(consumer.info(true), ORDERED_STEP_MS, what);
    const out: StoredTimer[] = [];
    if (info.num_pending === 0) {
      void consumer.delete().catch(() => undefined);
      return out;
    }
    const messages = await withTimeout(consumer.consume(), ORDERED_STEP_MS, what, (late) => late.close());
    // An ordered consumer can stall for good if the stream changes leader mid-read: fail instead
    // (the partition load is retried), but never cut short a read that keeps delivering.
    const read = idleTimeout(messages, 15_000, what, () => messages.close());
    try {
      for await (const m of read) {
        const parsed = TimerRecordSchema.safeParse(m.json());
        if (parsed.success) out.push({ ...parsed.data, seq: m.seq });
        if (m.info.pending === 0) break;
      }
    } finally {
      // Not awaited: the read is over, and closing must not hold the load up. Closing leaves the
      // consumer on the server for its 5-minute inactivity threshold: deleted here.
      void messages
        .close()
        .catch(() => undefined)
        .then(() => consumer.delete())
        .catch(() => undefined);
    }
    return out;
  }
}
