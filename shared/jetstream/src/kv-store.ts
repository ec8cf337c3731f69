/**
 * What every bucket store shares: one key read with the revision a compare-and-set expects, and
 * compare-and-set writes whose lost race is a result (`{ ok: false }`), never a NATS error. Other
 * failures (timeouts, a refused write) still throw. Values stay as the services always wrote them
 * (JSON, or a plain string), so data written before the stores existed reads the same.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import { isConflict } from "./errors.ts";
import { KvFollower } from "./kv-follower.ts";

/**
 * A key as last read. `value` is undefined when the key's last write deleted or purged it: the
 * revision of that marker is still what a compare-and-set must expect.
 */
export interface Versioned<T> {
  value: T | undefined;
  revision: number;
}

/** A compare-and-set: written (at `revision`), or lost to a write made since the read. */
export type CasResult = { ok: true; revision: number } | { ok: false };

/** How a follower of a bucket is told of its keys (see `KvFollower`). */
export interface FollowHandlers<T> {
  /** A key was written, in order with removals (a value that does not parse is skipped). */
  onPut(key: string, value: T): void;
  /** A key was deleted or purged. */
  onRemove(key: string): void;
  /** After a re-made watch delivered the current values: the keys that have one. */
  onResync?(present: ReadonlySet<string>): void;
  onWarn(message: string, err?: unknown): void;
}

/** Reads `key` of `kv`, its value parsed by `parse` (never called on a delete marker). */
export async function readVersioned<T>(
  kv: KV,
  key: string,
  parse: (e: KvEntry) => T,
): Promise<Versioned<T> | undefined> {
  const e = await kv.get(key);
  if (!e) return undefined;
  return { value: e.operation === "PUT" ? parse(e) : undefined, revision: e.revision };
}

/**
 * Writes `text` at `key` if the key is still as `previous` was read: never written (undefined: a
 * create), or at that revision (an update, a delete marker's included).
 */
export async function compareAndSet(
  kv: KV,
  key: string,
  text: string,
  previous: Pick<Versioned<unknown>, "revision"> | undefined,
): Promise<CasResult> {
  try {
    const revision = previous ? await kv.update(key, text, previous.revision) : await kv.create(key, text);
    return { ok: true, revision };
  } catch (e) {
    if (isConflict(e)) return { ok: false };
    throw e;
  }
}

/**
 * Deletes `key` only while its last revision is `revision` (leaves a delete marker). Resolves
 * whether it was deleted; any failure, a lost race included, counts as not deleted.
 */
export async function deleteAt(kv: KV, key: string, revision: number): Promise<boolean> {
  return kv
    .delete(key, { previousSeq: revision })
    .then(() => true)
    .catch(() => false);
}

/**
 * A `KvFollower` of every key of `kv`, with values parsed by `parse`: undefined skips the entry; a
 * throw is reported through `onWarn` (as "could not apply <key>").
 */
export function followBucket<T>(
  kv: KV,
  parse: (e: KvEntry) => T | undefined,
  h: FollowHandlers<T>,
): KvFollower {
  return new KvFollower(kv, {
    onEntry: (e) => {
      if (e.operation !== "PUT") return h.onRemove(e.key);
      const value = parse(e);
      if (value !== undefined) h.onPut(e.key, value);
    },
    ...(h.onResync ? { onResync: (present: ReadonlySet<string>) => h.onResync?.(present) } : {}),
    onWarn: (message, err) => h.onWarn(message, err),
  });
}
