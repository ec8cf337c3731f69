/**
 * WAITS: one key per open wait of a run (`Keys.wait`), written and removed by the run's owner
 * through the pipelined publisher (a fan-out registers thousands at once), followed by every
 * matcher to match events against them.
 */
import { Buckets, type WaitRecord, WaitRecordSchema } from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import type { KvFollower } from "./kv-follower.ts";
import { kvDelete, kvPut } from "./kv-publish.ts";
import { type FollowHandlers, followBucket } from "./kv-store.ts";
import type { Publisher } from "./publisher.ts";

export class WaitsStore {
  /** `publisher` is needed to write (`put`, `remove`); a follower passes none. */
  constructor(
    private readonly kv: KV,
    private readonly publisher?: Publisher,
  ) {}

  /** Registers `wait` under `key`. */
  async put(key: string, wait: WaitRecord): Promise<void> {
    await kvPut(this.writer(), Buckets.waits, key, JSON.stringify(wait));
  }

  /** Removes the wait at `key` (a delete marker, which followers see). */
  remove(key: string): Promise<void> {
    return kvDelete(this.writer(), Buckets.waits, key);
  }

  /**
   * Follows every wait (see `KvFollower`; call `start()` on it). A value that is not a wait record
   * is skipped.
   */
  follow(h: FollowHandlers<WaitRecord>): KvFollower {
    return followBucket(
      this.kv,
      (e) => {
        const parsed = WaitRecordSchema.safeParse(safeJson(() => e.json()));
        return parsed.success ? parsed.data : undefined;
      },
      h,
    );
  }

  private writer(): Publisher {
    if (!this.publisher) throw new Error("WaitsStore: writing needs a publisher");
    return this.publisher;
  }
}

function safeJson(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return undefined;
  }
}
