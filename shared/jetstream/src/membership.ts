/**
 * Executor membership: each executor keeps `member.<owner>` fresh in the LEASES bucket, so every
 * executor can compute its fair share of partitions (ceil(partitions / live members)). Members
 * whose heartbeat is older than the TTL are not counted (a crashed executor leaves its key behind).
 */
import { Buckets, checkToken } from "@jetstep/core";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { eraseKvKey, scanKvKeys } from "./subject-scan.ts";

export class Membership {
  private live = 1;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    /** The LEASES bucket. */
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    checkToken("owner", owner);
  }

  /** Live members, as of the last refresh (at least 1: this one). */
  count(): number {
    return this.live;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(
      () => {
        // One refresh at a time: an overlapping one would put this member's key again while the
        // other scans, and the scan would then count it twice.
        if (this.refreshing) return;
        this.refreshing = this.refresh()
          .catch(() => undefined)
          .finally(() => {
            this.refreshing = undefined;
          });
      },
      Math.max(200, Math.floor(this.ttlMs / 3)),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Erased rather than deleted: a delete marker per executor restart would pile up.
    await eraseKvKey(this.jsm, Buckets.leases, `member.${this.owner}`).catch(() => undefined);
  }

  async refresh(): Promise<void> {
    await this.kv.put(`member.${this.owner}`, String(this.now() + this.ttlMs));
    let live = 0;
    // Listed without a consumer (see scanKvKeys): this runs every ttl/3. A scan is no snapshot: a
    // key written again while it runs shows up twice, so count each key once.
    const keys = new Set<string>();
    for await (const key of scanKvKeys(this.jsm, Buckets.leases, "member.>")) keys.add(key);
    for (const key of keys) {
      const e = await this.kv.get(key);
      if (e?.operation === "PUT" && Number(e.string()) > this.now()) live++;
    }
    this.live = Math.max(1, live);
  }
}
