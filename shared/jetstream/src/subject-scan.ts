/**
 * Reads a stream's messages by subject filter without a consumer: `STREAM.MSG.GET` with
 * `next_by_subj` (served by the stream leader, so never stale), one request per message.
 *
 * Why not an ordered consumer: it is an ephemeral R1 consumer, and up to nats-server 2.11 the
 * meta leader can place an ephemeral consumer of a replicated stream on a peer that is offline
 * (fixed upstream in nats-server PR #7165). Seen on 2.9.10 with one of three nodes killed: every
 * ordered consumer create on ACTIVE and TIMERS timed out for minutes, so partitions could not load
 * their timers or list their due runs. MSG.GET only needs the stream to have a leader.
 */
import type { JetStreamManager, MsgRequest, StoredMsg } from "@nats-io/jetstream";

/** Messages of `stream` whose subject matches `filter` (wildcards allowed), in stream order. */
export async function* scanSubjects(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): AsyncGenerator<StoredMsg> {
  let seq = 1;
  for (;;) {
    // The server takes next_by_subj in MSG.GET (checked on 2.9.10); the client's type omits it.
    const m = await jsm.streams.getMessage(stream, { next_by_subj: filter, seq } as unknown as MsgRequest);
    if (!m) return;
    yield m;
    seq = m.seq + 1;
  }
}

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
  const prefix = `$KV.${bucket}.`;
  for await (const m of scanSubjects(jsm, `KV_${bucket}`, `${prefix}${filter}`)) {
    const op = m.header.get("KV-Operation");
    if (op === "DEL" || op === "PURGE") continue;
    yield m.subject.slice(prefix.length);
  }
}

/**
 * Removes every message of `key` from KV bucket `bucket`, leaving no delete marker (a KV delete
 * leaves one per key forever, and key listings would read them all). For keys nobody watches.
 */
export async function eraseKvKey(jsm: JetStreamManager, bucket: string, key: string): Promise<void> {
  await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${key}` });
}
