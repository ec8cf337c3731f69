/**
 * THROTTLE: the runs of a throttle key waiting for their start. The matcher enqueues a run
 * (subject `thq.<token>.<runId>`, with the EVENTS sequence of its event) before it sends the run's
 * start command; the run may start only while it is the key's head, and leaves the queue once it
 * has started or when it ends waiting.
 *
 * The head is the run whose event arrived first (lowest EVENTS sequence) among the first HEAD_SPAN
 * messages of the key: several matchers enqueue at once, so the stream's own order can be off by
 * the few events they handle concurrently. Reading it is one batched direct get.
 */
import { fnv1a64, Streams, Subjects } from "@jetstep/core";
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { Publisher } from "./publisher.ts";

/** Messages of a key read to find its head (well above the events matchers handle at once). */
const HEAD_SPAN = 64;

export interface QueuedRun {
  runId: string;
  seq: number;
  /** EVENTS sequence of the run's event: arrival order. */
  eventSeq: number;
  /** When it was enqueued (ms). */
  ts: number;
}

/** The subject token of a throttle key (a FLOW key, which may hold any escaped text). */
export const throttleToken = (key: string): string => fnv1a64(key).toString(16);

export class ThrottleQueue {
  constructor(private readonly jsm: JetStreamManager) {}

  /** Enqueues `runId` under `key` (deduplicated by run id: a redelivered event enqueues it once). */
  static async enqueue(
    publisher: Publisher,
    key: string,
    runId: string,
    eventSeq: number,
    now: number,
  ): Promise<void> {
    const r = await publisher.publish(
      Subjects.throttleQueue(throttleToken(key), runId),
      JSON.stringify({ runId, eventSeq, ts: now }),
      { msgId: `throttle-${runId}` },
    );
    if (!r.ok) throw new Error(`could not queue run ${runId} for its throttle: ${r.description}`);
  }

  /** The run waiting under `key` whose event arrived first, or undefined when none waits. */
  async head(key: string): Promise<QueuedRun | undefined> {
    const batch = await this.jsm.direct.getBatch(Streams.throttle, {
      seq: 1,
      next_by_subj: Subjects.throttleQueueOf(throttleToken(key)),
      batch: HEAD_SPAN,
    });
    let head: QueuedRun | undefined;
    try {
      for await (const m of batch) {
        const run = queuedRun(m);
        if (!head || run.eventSeq < head.eventSeq || (run.eventSeq === head.eventSeq && run.seq < head.seq))
          head = run;
      }
    } catch (e) {
      // A batch over an empty queue ends with "no message" (404) instead of nothing.
      if ((e as { code?: unknown }).code !== 404) throw e;
    }
    return head;
  }

  /** Whether `runId` still waits under `key`. */
  async waiting(key: string, runId: string): Promise<boolean> {
    return (await this.first(Subjects.throttleQueue(throttleToken(key), runId))) !== undefined;
  }

  /** Takes `runId` out of the queue of `key` (every copy). */
  async remove(key: string, runId: string): Promise<void> {
    await this.jsm.streams.purge(Streams.throttle, {
      filter: Subjects.throttleQueue(throttleToken(key), runId),
    });
  }

  private async first(subject: string): Promise<QueuedRun | undefined> {
    const m = await this.jsm.direct.getMessage(Streams.throttle, { next_by_subj: subject, seq: 1 });
    return m ? queuedRun(m) : undefined;
  }
}

function queuedRun(m: StoredMsg): QueuedRun {
  let body: { runId?: unknown; eventSeq?: unknown; ts?: unknown } = {};
  try {
    body = m.json();
  } catch {
    // the subject still names the run
  }
  return {
    runId: typeof body.runId === "string" ? body.runId : (m.subject.split(".").at(-1) as string),
    seq: m.seq,
    eventSeq: typeof body.eventSeq === "number" ? body.eventSeq : 0,
    ts: typeof body.ts === "number" ? body.ts : 0,
  };
}
