/**
 * Partition leases in the LEASES bucket: `partition.<n>` → `{owner}`, written with a per-message
 * TTL (expiring-kv.ts), so the server removes a lease its owner stopped renewing. A lease is taken
 * when its key is gone (never taken, expired, or released) with a create, and kept by a
 * revision-checked write every ttl/3 that also restarts its TTL. No host's clock is compared with
 * another's: the stream leader alone decides when a lease has expired.
 *
 * Fencing. A lease is valid here (`valid`) until `ttl - margin` after its last successful write was
 * *sent*, by this process's monotonic clock: the server stamps the write no earlier, so nobody else
 * can hold the partition before then. Whatever calls an app checks `valid` right before the call
 * goes out, so an owner that was paused or too busy to renew stops calling before another owner
 * can have taken over. A renewal that fails (the key expired, was taken, or could not be written)
 * loses the partition: a re-created key would not prove that nobody owned it in between (another
 * owner may have taken it and died), so the partition is dropped and, if free, taken again afresh.
 * A renewal cut by a lost connection is sent again once: its revision check still holds.
 */
import { Buckets, Keys } from "@jetstep/core";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { ConnectionLostError } from "./connection.ts";
import { writeExpiring } from "./expiring-kv.ts";

export interface LeaseValue {
  owner: string;
}

/**
 * Why a partition stopped being this owner's: the holder stopped (`stopped`) or gave it to
 * another owner for a fair share (`handed-over`), both normal; or its lease could not be renewed
 * (`expired`), its load failed (`load-failed`), or its consumer stopped (`reload`: taken again).
 */
export type LeaseLoss = "stopped" | "handed-over" | "expired" | "load-failed" | "reload";

export interface LeaseEvents {
  acquired(partition: number): Promise<void> | void;
  lost(partition: number, why: LeaseLoss): Promise<void> | void;
  /**
   * A partition is about to be handed to another owner (a fair share changed): stop starting new
   * work on it and let work under way finish, for at most `withinMs` (the lease stays valid that
   * long). `lost` follows, then the lease is released.
   */
  handingOver?(partition: number, withinMs: number): Promise<void> | void;
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
  /** A monotonic clock in ms (default `performance.now`); injected by tests. */
  clock?: () => number;
}

/**
 * How long before its TTL runs out a lease stops being valid here: room for a call that passed the
 * check to reach the app, and for timers that fire late. A fifth of the TTL, at least 200 ms.
 */
export function leaseMarginMs(ttlMs: number): number {
  return Math.max(200, Math.floor(ttlMs / 5));
}

export class PartitionLeases {
  private readonly owned = new Map<number, number>(); // partition → revision
  /** Per owned partition, until when (monotonic ms) nobody else can hold it. */
  private readonly validUntil = new Map<number, number>();
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  /** The latest acquisition of each partition (a failed load drops only its own). */
  private readonly loading = new Map<number, number>();
  private acquisitions = 0;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Per partition, who waits in `whenValid` (woken when its lease is written or dropped). */
  private readonly waiters = new Map<number, Set<() => void>>();
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
    this.clock = opts.clock ?? (() => performance.now());
    this.value = JSON.stringify({ owner: opts.owner } satisfies LeaseValue);
  }

  /**
   * Writes the lease of partition `p` for another ttl, if its last revision is `revision` (0:
   * absent), and notes until when it is valid. Resolves with the new revision.
   */
  private async write(p: number, revision: number): Promise<number> {
    const sentAt = this.clock();
    const rev = await writeExpiring(
      this.js,
      Buckets.leases,
      this.keyOf(p),
      this.value,
      this.opts.ttlMs,
      revision,
    );
    if (!this.stopped) this.validUntil.set(p, sentAt + this.opts.ttlMs - leaseMarginMs(this.opts.ttlMs));
    return rev;
  }

  /** Drops partition `p` from memory. */
  private forget(p: number): void {
    this.owned.delete(p);
    this.validUntil.delete(p);
    this.wake(p);
  }

  /** Notes the lease of `p` written at `rev` (taken or renewed), and wakes who waits for it. */
  private hold(p: number, rev: number): void {
    this.owned.set(p, rev);
    this.wake(p);
  }

  private wake(p: number): void {
    for (const w of [...(this.waiters.get(p) ?? [])]) w();
  }

  /** Resolves when the lease of `p` is written or dropped, or after `ms`. */
  private changed(p: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(p) ?? new Set<() => void>();
      this.waiters.set(p, set);
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(p) === set) this.waiters.delete(p);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  ownedPartitions(): number[] {
    return [...this.owned.keys()];
  }

  /** Whether this process holds the partition (it may be about to find out it lost it). */
  owns(partition: number): boolean {
    return this.owned.has(partition);
  }

  /**
   * Whether nobody else can hold the partition now: owned, and its last renewal recent enough.
   * False for a moment when a renewal is late; the partition is kept if the renewal then succeeds.
   */
  valid(partition: number): boolean {
    const until = this.validUntil.get(partition);
    return until !== undefined && this.owned.has(partition) && this.clock() < until;
  }

  /** For how long from now the lease of `p` stays valid without a renewal (0 if it is not valid). */
  validForMs(partition: number): number {
    if (!this.valid(partition)) return 0;
    return (this.validUntil.get(partition) as number) - this.clock();
  }

  /**
   * Waits for the lease of `p` to be valid: a renewal that came late, or the partition taken
   * back after it lapsed. False if `timeoutMs` passes first (another process holds it, say).
   */
  async whenValid(
    partition: number,
    timeoutMs: number,
    opts: { whileOwned?: boolean } = {},
  ): Promise<boolean> {
    const until = this.clock() + timeoutMs;
    while (!this.valid(partition)) {
      const left = until - this.clock();
      if (this.stopped || left <= 0) return false;
      // Given up meanwhile: not waiting for the partition to be taken back.
      if (opts.whileOwned && !this.owned.has(partition)) return false;
      // Woken by the lease's next write (or loss); thousands of calls may wait at once, so no
      // short polling. The cap only bounds how stale the clock check can get.
      await this.changed(partition, Math.min(left, 1000));
    }
    return true;
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
    // All renewals at once: one after the other, 16 of them on a loaded machine took longer than
    // a short TTL, and leases expired while they were being renewed.
    await Promise.all([...this.owned].map(([p, rev]) => this.renew(p, rev)));
    // More than our share (other executors joined): hand the extra partitions over. Work under
    // way finishes first, within a third of the TTL (the leases were just renewed): the next owner
    // would otherwise start calls next to ours, and a concurrency limit would be exceeded. All at
    // once: one after the other, eight of them held up the next renewal past the TTL.
    const share = this.opts.maxOwned?.() ?? Number.POSITIVE_INFINITY;
    const extra = [...this.owned.keys()].sort((a, b) => b - a).slice(0, Math.max(0, this.owned.size - share));
    await Promise.all(
      extra.map(async (p) => {
        const rev = this.owned.get(p) as number;
        await Promise.resolve(this.events.handingOver?.(p, Math.floor(this.opts.ttlMs / 3))).catch((e) =>
          this.opts.onError?.(e),
        );
        if (this.owned.get(p) !== rev || this.stopped) return;
        this.forget(p);
        await this.events.lost(p, "handed-over");
        await this.kv.delete(this.keyOf(p), { previousSeq: rev }).catch(() => undefined);
      }),
    );
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
        const newRev = await this.write(p, current?.revision ?? 0);
        this.hold(p, newRev);
        // Not awaited: loading a partition must not delay renewing the other leases. If loading
        // fails (say, its consumer cannot be created while a stream elects a leader), give the
        // partition up in memory: the next tick takes it again (the lease is still ours) and loads
        // it afresh. Keeping a lease for a partition nobody consumes would stall its runs.
        const acquisition = ++this.acquisitions;
        this.loading.set(p, acquisition);
        void Promise.resolve(this.events.acquired(p)).catch(async (e) => {
          this.opts.onError?.(new PartitionLoadError(p, e));
          if (this.loading.get(p) !== acquisition || !this.owned.has(p)) return;
          this.forget(p);
          await Promise.resolve(this.events.lost(p, "load-failed")).catch((err) => this.opts.onError?.(err));
        });
      } catch {
        // Someone else won the race for this partition.
      }
    }
  }

  /**
   * Renews the lease of `p`, if nobody wrote it since our last write. Otherwise (it expired before
   * this renewal reached the server, someone else holds it, or it could not be written) the
   * partition is lost; if its key is free, the acquisition pass takes it again and loads it afresh.
   */
  private async renew(p: number, rev: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.hold(p, await this.write(p, rev));
        return;
      } catch (e) {
        // Expired, taken over, or the bucket cannot be written now. A write whose connection
        // dropped is sent once more (held until the connection is back): the revision check
        // makes it safe, and a partition reloaded at every reconnect would stall its runs.
        if (!(e instanceof ConnectionLostError) || attempt > 0 || this.stopped || this.owned.get(p) !== rev)
          break;
      }
    }
    if (this.owned.get(p) !== rev) return; // released or re-taken meanwhile
    this.forget(p);
    await this.events.lost(p, "expired");
  }

  /**
   * Forgets partition `p` in memory (its lease stays ours in KV) and reports it lost; the next tick
   * takes it again and loads it afresh. For a partition whose consumer stopped on its own.
   */
  async reload(p: number): Promise<void> {
    if (!this.owned.has(p) || this.stopped) return;
    this.forget(p);
    this.loading.delete(p);
    await this.events.lost(p, "reload");
  }

  /** Stops renewing; with `release`, deletes owned leases so another executor takes over at once. */
  async stop(release: boolean): Promise<void> {
    this.stopped = true;
    for (const p of [...this.waiters.keys()]) this.wake(p);
    if (this.timer) clearInterval(this.timer);
    await this.ticking.catch(() => undefined);
    // Nothing is called under these leases from here on, before anyone else can take them.
    this.validUntil.clear();
    for (const [p, rev] of this.owned) {
      if (release) await this.kv.delete(this.keyOf(p), { previousSeq: rev }).catch(() => undefined);
      await this.events.lost(p, "stopped");
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
