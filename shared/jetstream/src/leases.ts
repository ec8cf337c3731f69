/**
 * Partition leases in the LEASES bucket: `partition.<n>` → `{owner}`, written with a per-message
 * TTL (expiring-kv.ts), so the server removes a lease its owner stopped renewing. A lease is taken
 * when its key is gone (never taken, expired, or released) with a create, and kept by a
 * revision-checked write every ttl/3 that also restarts its TTL. A renewal that comes too late (the
 * key expired) re-creates the key if nobody took it meanwhile; losing that too means someone else
 * owns it, and the partition is dropped at once. No host's clock is compared with another's: the
 * stream leader alone decides when a lease has expired.
 */
import { Buckets, Keys } from "@jetstep/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { writeExpiring } from "./expiring-kv.ts";

export interface LeaseValue {
  owner: string;
}

export interface LeaseEvents {
  acquired(partition: number): Promise<void> | void;
  lost(partition: number): Promise<void> | void;
}

export interface LeaseOptions {
  owner: string;
  partitions: number;
  /** How long a lease outlives its last renewal (whole seconds on the server, at least 1 s). */
  ttlMs: number;
  /** The lease key of partition `p` (default `partition.<p>`). */
  key?: (p: number) => string;
  /** Upper bound of partitions to hold (default all); lets several executors share work. */
  maxOwned?: () => number;
  onError?: (e: unknown) => void;
}

export class PartitionLeases {
  private readonly owned = new Map<number, number>(); // partition → revision
  private timer: NodeJS.Timeout | undefined;
  /** The latest acquisition of each partition (a failed load drops only its own). */
  private readonly loading = new Map<number, number>();
  private acquisitions = 0;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly keyOf: (p: number) => string;
  private readonly value: string;

  constructor(
    /** The LEASES bucket, and the client that writes its keys with a TTL. */
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly opts: LeaseOptions,
    private readonly events: LeaseEvents,
  ) {
    this.keyOf = opts.key ?? Keys.lease;
    this.value = JSON.stringify({ owner: opts.owner } satisfies LeaseValue);
  }

  /** Writes the lease of `key` for another ttl, if its last revision is `revision` (0: absent). */
  private write(key: string, revision: number): Promise<number> {
    return writeExpiring(this.js, Buckets.leases, key, this.value, this.opts.ttlMs, revision);
  }

  ownedPartitions(): number[] {
    return [...this.owned.keys()];
  }

  owns(partition: number): boolean {
    return this.owned.has(partition);
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(
      () => {
        this.ticking = this.ticking.then(() => this.tick()).catch((e) => this.opts.onError?.(e));
      },
      Math.max(200, Math.floor(this.opts.ttlMs / 3)),
    );
    this.timer.unref();
  }

  /** Renews owned leases and tries to take free or expired ones. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    // More than our share (other executors joined): hand the extra partitions over.
    const share = this.opts.maxOwned?.() ?? Number.POSITIVE_INFINITY;
    while (this.owned.size > share) {
      const p = Math.max(...this.owned.keys());
      const rev = this.owned.get(p) as number;
      this.owned.delete(p);
      await this.kv.delete(this.keyOf(p), { previousSeq: rev }).catch(() => undefined);
      await this.events.lost(p);
    }
    // All renewals at once: one after the other, 16 of them on a loaded machine took longer than
    // a short TTL, and leases expired while they were being renewed.
    await Promise.all([...this.owned].map(([p, rev]) => this.renew(p, rev)));
    for (let p = 0; p < this.opts.partitions; p++) {
      if (this.stopped) return;
      const key = this.keyOf(p);
      if (this.owned.has(p)) continue;
      if (this.opts.maxOwned && this.owned.size >= this.opts.maxOwned()) continue;
      const current = await this.kv.get(key);
      try {
        // A live lease of another owner is left alone: the server removes it if it is not renewed.
        if (current?.operation === "PUT" && current.json<LeaseValue>().owner !== this.opts.owner) continue;
        // Absent (never taken or expired: revision 0), released (a delete marker), or ours.
        const newRev = await this.write(key, current?.revision ?? 0);
        this.owned.set(p, newRev);
        // Not awaited: loading a partition must not delay renewing the other leases. If loading
        // fails (say, its consumer cannot be created while a stream elects a leader), give the
        // partition up in memory: the next tick takes it again (the lease is still ours) and loads
        // it afresh. Keeping a lease for a partition nobody consumes would stall its runs.
        const acquisition = ++this.acquisitions;
        this.loading.set(p, acquisition);
        void Promise.resolve(this.events.acquired(p)).catch(async (e) => {
          this.opts.onError?.(new PartitionLoadError(p, e));
          if (this.loading.get(p) !== acquisition || !this.owned.has(p)) return;
          this.owned.delete(p);
          await Promise.resolve(this.events.lost(p)).catch((err) => this.opts.onError?.(err));
        });
      } catch {
        // Someone else won the race for this partition.
      }
    }
  }

  /**
   * Renews the lease of `p`. If it expired before this renewal reached the server (a late tick:
   * the process was busy), it is taken again with a create, which succeeds only if nobody took it
   * meanwhile — then nobody else ever owned it, and keeping the partition is safe. Otherwise the
   * partition is lost.
   */
  private async renew(p: number, rev: number): Promise<void> {
    const key = this.keyOf(p);
    try {
      this.owned.set(p, await this.write(key, rev));
      return;
    } catch {
      try {
        this.owned.set(p, await this.write(key, 0));
        return;
      } catch {
        // Someone else holds it now (or the bucket cannot be written): give it up.
      }
    }
    if (this.owned.get(p) !== rev) return; // released or re-taken meanwhile
    this.owned.delete(p);
    await this.events.lost(p);
  }

  /**
   * Forgets partition `p` in memory (its lease stays ours in KV) and reports it lost; the next tick
   * takes it again and loads it afresh. For a partition whose consumer stopped on its own.
   */
  async reload(p: number): Promise<void> {
    if (!this.owned.has(p) || this.stopped) return;
    this.owned.delete(p);
    this.loading.delete(p);
    await this.events.lost(p);
  }

  /** Stops renewing; with `release`, deletes owned leases so another executor takes over at once. */
  async stop(release: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking.catch(() => undefined);
    for (const [p, rev] of this.owned) {
      if (release) await this.kv.delete(this.keyOf(p), { previousSeq: rev }).catch(() => undefined);
      await this.events.lost(p);
    }
    this.owned.clear();
  }
}

export class PartitionLoadError extends Error {
  override name = "PartitionLoadError";
  constructor(
    readonly partition: number,
    cause: unknown,
  ) {
    super(`could not load partition ${partition}; taking it again on the next lease tick`, { cause });
  }
}
