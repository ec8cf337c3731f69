/**
 * Buckets of JSON values changed by compare-and-set and followed by every matcher: DEBOUNCES (the
 * latest event of each debounce window) and BATCHES (each open batch). The value's shape is the
 * matcher's (`T`); the store reads, writes and follows it.
 */
import type { KV } from "@nats-io/kv";
import type { KvFollower } from "./kv-follower.ts";
import {
  type CasResult,
  compareAndSet,
  deleteAt,
  type FollowHandlers,
  followBucket,
  readVersioned,
  type Versioned,
} from "./kv-store.ts";

export class JsonStore<T> {
  constructor(private readonly kv: KV) {}

  /** The key's value and revision (undefined: never written). A value not JSON throws. */
  get(key: string): Promise<Versioned<T> | undefined> {
    return readVersioned(this.kv, key, (e) => e.json<T>());
  }

  /** Writes `value` if the key is still as `previous` was read (undefined: it must not exist). */
  compareAndSet(key: string, value: T, previous: Versioned<T> | undefined): Promise<CasResult> {
    return compareAndSet(this.kv, key, JSON.stringify(value), previous);
  }

  /** Deletes the key if its last revision is still `revision`; resolves whether it did. */
  removeAt(key: string, revision: number): Promise<boolean> {
    return deleteAt(this.kv, key, revision);
  }

  /** Follows every key (see `KvFollower`; call `start()` on it). */
  follow(h: FollowHandlers<T>): KvFollower {
    return followBucket(this.kv, (e) => e.json<T>(), h);
  }
}

/** DEBOUNCES: a debounced function's pending event per key value (`Keys.flow("debounce", …)`). */
export class DebounceStore<T> extends JsonStore<T> {}

/** BATCHES: a batched function's open batch per key value (`Keys.batch`). */
export class BatchStore<T> extends JsonStore<T> {}
