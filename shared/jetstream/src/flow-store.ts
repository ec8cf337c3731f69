/**
 * FLOW: flow-control state shared by every matcher and executor, each key (`Keys.flow`) a plain
 * string changed by compare-and-set only: the GCRA time of a rate limit or a throttle (a number),
 * or the run holding a singleton key. Keys expire 24 h after their last write (the bucket's TTL).
 */
import type { KV } from "@nats-io/kv";
import { type CasResult, compareAndSet, readVersioned, type Versioned } from "./kv-store.ts";

export class FlowStore {
  constructor(private readonly kv: KV) {}

  /** The key's value and revision (undefined: never written or expired). */
  get(key: string): Promise<Versioned<string> | undefined> {
    return readVersioned(this.kv, key, (e) => e.string());
  }

  /**
   * Writes `value` if the key is still as `previous` was read by `get` (undefined: it must not
   * exist). A write made since then makes it `{ ok: false }`: read again and retry.
   */
  compareAndSet(key: string, value: string, previous: Versioned<string> | undefined): Promise<CasResult> {
    return compareAndSet(this.kv, key, value, previous);
  }
}
