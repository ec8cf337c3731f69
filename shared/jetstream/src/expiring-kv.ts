/**
 * KV writes that expire on the server: a per-message TTL (`Nats-TTL`, nats-server 2.11+, bucket
 * with `allow_msg_ttl`) makes the server remove the key `ttl` after its last write. Ownership and
 * liveness keys use it instead of an expiry time in the value, so no two hosts' clocks are ever
 * compared: the stream leader's clock alone decides when a key is gone. The KV client of nats.js
 * sets a TTL only on create, so these write the bucket's subject directly.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { kvSubject } from "./kv-publish.ts";

/** The `Nats-TTL` value for `ttlMs`: whole seconds (the server's unit), at least 1. */
export function ttlHeaderValue(ttlMs: number): string {
  return `${Math.max(1, Math.ceil(ttlMs / 1000))}s`;
}

/**
 * Writes `value` under `key` so that it expires `ttlMs` after this write. With
 * `expectedRevision`, only if the key's last revision is that one (0: the key must not exist —
 * never written, expired, or erased). Resolves with the new revision; rejects when the expectation
 * does not hold (someone else wrote it) or the write fails.
 */
export async function writeExpiring(
  js: JetStreamClient,
  bucket: string,
  key: string,
  value: string,
  ttlMs: number,
  expectedRevision?: number,
): Promise<number> {
  const ack = await js.publish(kvSubject(bucket, key), value, {
    ttl: ttlHeaderValue(ttlMs),
    ...(expectedRevision === undefined ? {} : { expect: { lastSubjectSequence: expectedRevision } }),
  });
  return ack.seq;
}

/** Lets the bucket's stream take per-message TTLs (a bucket made by an older Jetstep lacks it). */
export async function allowMessageTtl(jsm: JetStreamManager, bucket: string): Promise<void> {
  const info = await jsm.streams.info(`KV_${bucket}`);
  if (info.config.allow_msg_ttl) return;
  await jsm.streams.update(`KV_${bucket}`, { ...info.config, allow_msg_ttl: true });
}
