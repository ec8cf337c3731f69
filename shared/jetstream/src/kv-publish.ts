/**
 * KV writes through the pipelined `Publisher` (a KV put is a publish to `$KV.<bucket>.<key>`, a
 * delete the same with `KV-Operation: DEL`), for writes that come in bursts: a fan-out registers
 * and later drops thousands of waits. `kv.put` sends each as its own request with its own timeout
 * and no bound on how many are out at once; through the publisher they share its window.
 */
import type { Publisher } from "./publisher.ts";

/** The subject of `key` in KV bucket `bucket` (where its values are stored). */
export const kvSubject = (bucket: string, key: string): string => `$KV.${bucket}.${key}`;

/** Puts `value` at `key` of `bucket`; resolves the revision, throws when the stream refuses it. */
export async function kvPut(
  publisher: Publisher,
  bucket: string,
  key: string,
  value: string,
): Promise<number> {
  const r = await publisher.publish(kvSubject(bucket, key), value);
  if (!r.ok) throw new Error(`could not put ${key} in ${bucket}: ${r.description}`);
  return r.seq;
}

/** Deletes `key` of `bucket` (leaves a delete marker, as `kv.delete` does). */
export async function kvDelete(publisher: Publisher, bucket: string, key: string): Promise<void> {
  const r = await publisher.publish(kvSubject(bucket, key), "", { headers: { "KV-Operation": "DEL" } });
  if (!r.ok) throw new Error(`could not delete ${key} from ${bucket}: ${r.description}`);
}
