/**
 * Reads a stream's messages by subject filter without a consumer: `STREAM.MSG.GET` with
 * `next_by_subj` (served by the stream leader, so never stale), one request per message.
 *
 * Why not always an ordered consumer: it is an ephemeral R1 consumer, and while a cluster recovers
 * from a lost node it can deliver nothing. On nats-server 2.9.10 (which could place it on the dead
 * node, fixed in 2.12) every create on ACTIVE and TIMERS timed out for minutes; on 2.15.2 ordered
 * reads of timers still delivered nothing for 10 s while the stream leader moved (14 fallbacks in
 * five cluster-test runs). MSG.GET only needs the stream to have a leader.
 */
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type StoredMsg,
} from "@nats-io/jetstream";
import { isNotFound } from "./errors.ts";
import { idleTimeout, withTimeout } from "./idle-timeout.ts";
import { kvSubject } from "./kv-publish.ts";

/**
 * Messages of `stream` whose subject matches `filter` (wildcards allowed), in stream order, from
 * stream sequence `fromSeq`. With `direct`, by direct gets instead: any replica answers (cheaper,
 * but a lagging follower can miss the latest messages).
 */
export async function* scanSubjects(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  opts: { fromSeq?: number; direct?: boolean } = {},
): AsyncGenerator<StoredMsg> {
  let seq = opts.fromSeq ?? 1;
  if (opts.direct) {
    // Batched direct gets: one request per DIRECT_BATCH messages plus one that finds nothing more
    // (a run's log was one request per message, and reading runs back is most of what the API
    // and a rebuild cost).
    for (;;) {
      let got = 0;
      let batch: AsyncIterable<StoredMsg>;
      try {
        batch = await jsm.direct.getBatch(stream, { seq, batch: DIRECT_BATCH, next_by_subj: filter });
        for await (const m of batch) {
          got++;
          seq = m.seq + 1;
          yield m;
        }
      } catch (e) {
        if (got === 0 && isNotFound(e)) return;
        throw e;
      }
      // A batch may stop short of DIRECT_BATCH (the server caps a reply's bytes): ask again from
      // after the last message until nothing is left.
      if (got === 0) return;
    }
  }
  for (;;) {
    // The server takes next_by_subj in MSG.GET (checked on 2.9.10); the client's type omits it.
    const m = await jsm.streams.getMessage(stream, { next_by_subj: filter, seq } as unknown as MsgRequest);
    if (!m) return;
    yield m;
    seq = m.seq + 1;
  }
}

/** Messages per batched direct get. */
const DIRECT_BATCH = 256;

/**
 * Live keys of KV bucket `bucket` matching `filter` (a key pattern such as `p3.>`), read with
 * `scanSubjects`. Delete and purge markers are skipped. Meant for buckets with history 1, where
 * each key has one message.
 */
export async function* scanKvKeys(
  jsm: JetStreamManager,
  bucket: string,
  filter: string,
): AsyncGenerator<string> {
  const prefix = kvSubject(bucket, "");
  // A key written while the scan goes on is met twice (its old message, then the new one further
  // on), and one deleted meanwhile is met live and then as a delete marker: the last met stands.
  const live = new Set<string>();
  for await (const m of scanSubjects(jsm, `KV_${bucket}`, `${prefix}${filter}`)) {
    const key = m.subject.slice(prefix.length);
    const op = m.header.get("KV-Operation");
    if (op === "DEL" || op === "PURGE") live.delete(key);
    else live.add(key);
  }
  yield* live;
}

/**
 * Removes every message of `key` from KV bucket `bucket`, leaving no delete marker (a KV delete
 * leaves one per key forever, and key listings would read them all). For keys nobody watches.
 */
export async function eraseKvKey(jsm: JetStreamManager, bucket: string, key: string): Promise<void> {
  await jsm.streams.purge(`KV_${bucket}`, { filter: kvSubject(bucket, key) });
}

/** Longest wait for an ordered consumer to be made (or, listing keys, to deliver the next one). */
export const ORDERED_STEP_MS = 10_000;

/**
 * Live keys of KV bucket `bucket` matching `filter`, read with one ordered consumer (fails rather
 * than hang), which is deleted after: `kv.keys()` left its consumer on the server for the 5-minute
 * inactivity threshold, and 1,000 of them make every later consumer fail.
 */
export async function listKvKeys(js: JetStreamClient, bucket: string, filter: string): Promise<string[]> {
  const what = `listing keys ${filter}`;
  const prefix = kvSubject(bucket, "");
  const consumer = await withTimeout(
    js.consumers.get(`KV_${bucket}`, {
      filter_subjects: `${prefix}${filter}`,
      deliver_policy: DeliverPolicy.LastPerSubject,
      headers_only: true,
    }),
    ORDERED_STEP_MS,
    what,
  );
  const out: string[] = [];
  try {
    const info = await withTimeout(consumer.info(true), ORDERED_STEP_MS, what);
    if (info.num_pending === 0) return out;
    const messages = await withTimeout(consumer.consume(), ORDERED_STEP_MS, what, (late) => late.close());
    try {
      for await (const m of idleTimeout(messages, ORDERED_STEP_MS, what, () => messages.close())) {
        const op = m.headers?.get("KV-Operation");
        if (op !== "DEL" && op !== "PURGE") out.push(m.subject.slice(prefix.length));
        if (m.info.pending === 0) break;
      }
    } finally {
      void messages.close().catch(() => undefined);
    }
    return out;
  } finally {
    void consumer.delete().catch(() => undefined);
  }
}

/**
 * Chooses between the two ways to read a subject range: an ordered consumer (one request, then
 * streamed: about ten times faster) and a consumer-less scan. The consumer is tried first; when it
 * fails, the read is scanned instead, and for `coolOffMs` after that every read is scanned at once
 * (a cluster that cannot place consumers now will not manage on the next read either).
 */
export class ReadPath {
  private scanUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly coolOffMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether reads are being scanned right now (after a recent consumer failure). */
  scanning(): boolean {
    return this.now() < this.scanUntil;
  }

  async read<T>(
    ordered: () => Promise<T>,
    scan: () => Promise<T>,
    onFallback?: (e: unknown) => void,
  ): Promise<T> {
    if (this.scanning()) return scan();
    try {
      return await ordered();
    } catch (e) {
      this.scanUntil = this.now() + this.coolOffMs;
      onFallback?.(e);
      return scan();
    }
  }
}
