/**
 * Executor membership: each executor keeps `member.<owner>` alive in the LEASES bucket, written
 * every ttl/3 with a per-message TTL (expiring-kv.ts), so every executor can compute its fair share
 * of partitions (ceil(partitions / live members)). A crashed executor's key is removed by the
 * server once its TTL runs out: the live members are exactly the keys there are.
 */
import { Buckets, checkToken } from "@jetstep/core";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { writeExpiring } from "./expiring-kv.ts";
import { eraseKvKey, scanKvKeys } from "./subject-scan.ts";

export class Membership {
  private live = 1;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly owner: string,
    private readonly ttlMs: number,
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
    // Erased at once (not left to expire) so the others take this one's share without waiting.
    await eraseKvKey(this.jsm, Buckets.leases, `member.${this.owner}`).catch(() => undefined);
  }

  async refresh(): Promise<void> {
    await writeExpiring(this.js, Buckets.leases, `member.${this.owner}`, "", this.ttlMs);
    // Listed without a consumer (see scanKvKeys): this runs every ttl/3. A scan is no snapshot: a
    // key written again while it runs shows up twice, so each key is counted once.
    const keys = new Set<string>();
    for await (const key of scanKvKeys(this.jsm, Buckets.leases, "member.>")) keys.add(key);
    this.live = Math.max(1, keys.size);
  }
}
