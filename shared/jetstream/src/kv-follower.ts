/**
 * Follows every key of a KV bucket (an in-memory index kept current: waits, batches, debounces,
 * registered apps) and keeps following through outages.
 *
 * A KV watch is an ephemeral ordered consumer. nats.js re-creates it when its heartbeats stop, but
 * up to nats-server 2.11 the server could place the new consumer on a node that is down (fixed in
 * 2.12 by nats-server PR #7165): on 2.9.10 with one of three nodes killed, about one create in three
 * timed out, and a watch whose consumer lived on the dead node delivered nothing for the 40 s
 * watched. On 2.15.2 a watch still stalled once in five cluster-test runs (at revision 0, the
 * stream at 10). So
 * every `checkMs` the follower compares the last revision it saw with the stream's last sequence;
 * behind on two checks in a row, with nothing delivered in between, the watch is stalled and is made
 * again. A watch that ends by itself is made again too (with backoff while that fails).
 *
 * A new watch delivers every key's current value (deletes included) before the live feed, so
 * nothing written while the old one stalled is missed; `onResync` then gets the keys it holds, for
 * dropping entries whose keys vanished without a delete marker.
 */
import type { KV, KvEntry, KvWatchEntry } from "@nats-io/kv";
import { withTimeout } from "./idle-timeout.ts";

/** Longest wait for a re-made watch to deliver the current values before it is tried again. */
const REWATCH_TIMEOUT_MS = 30_000;

export interface KvFollowerOptions {
  /** Every entry, in order: puts, and deletes or purges (`operation` other than "PUT"). */
  onEntry(e: KvEntry): void;
  /** After a re-made watch delivered the current values: the keys that have one. */
  onResync?(present: ReadonlySet<string>): void;
  onWarn(message: string, err?: unknown): void;
  /** How often the watch is compared with the stream (default 10 s). */
  checkMs?: number;
}

export class KvFollower {
  private iter: { stop(): void } | undefined;
  private stopped = false;
  private lastSeen = 0;
  /** The watch was behind the stream at the last check, having seen up to this revision. */
  private behindAt: number | undefined;
  private checker: NodeJS.Timeout | undefined;
  private generation = 0;
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly opts: KvFollowerOptions,
  ) {}

  /** Starts following; resolves once the bucket's current values were delivered. */
  async start(): Promise<void> {
    await this.watch(false);
    this.checker = setInterval(() => void this.check(), this.opts.checkMs ?? 10_000);
    this.checker.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.checker) clearInterval(this.checker);
    this.drop();
  }

  /** Stops the current watch on purpose (its loop then ends without asking for a new one). */
  private drop(): void {
    this.generation++;
    this.iter?.stop();
  }

  /** Makes a watch and resolves once it delivered the current values. */
  private async watch(resync: boolean): Promise<void> {
    const generation = ++this.generation;
    // What the stream held before the watch: a new watch delivers all of it that still exists, so
    // a revision up to here that it does not deliver is gone (a removed message), not missed.
    const before = (await this.kv.status()).streamInfo.state;
    const iter = await this.kv.watch({ key: ">" });
    if (this.stopped || generation !== this.generation) {
      iter.stop(); // given up on while it was being made
      return;
    }
    this.iter = iter;
    this.behindAt = undefined;
    const present = new Set<string>();
    let resolveReady!: () => void;
    const ready = new Promise<void>((r) => {
      resolveReady = r;
    });
    let loaded = false;
    const loadedAll = () => {
      if (loaded) return;
      loaded = true;
      this.lastSeen = Math.max(this.lastSeen, before.last_seq);
      if (resync) this.opts.onResync?.(present);
      resolveReady();
    };
    if (before.messages === 0) loadedAll();
    void (async () => {
      for await (const e of iter as AsyncIterable<KvWatchEntry>) {
        if (generation !== this.generation) {
          iter.stop();
          return;
        }
        this.lastSeen = Math.max(this.lastSeen, e.revision);
        if (!loaded) {
          if (e.operation === "PUT") present.add(e.key);
          else present.delete(e.key);
        }
        try {
          this.opts.onEntry(e);
        } catch (err) {
          this.opts.onWarn(`could not apply ${e.key}`, err);
        }
        if (e.delta === 0) loadedAll();
      }
    })()
      .catch((err) => this.opts.onWarn("KV watch failed", err))
      .finally(() => {
        resolveReady(); // a watch that ended while loading must not hold start() up
        if (generation !== this.generation || this.stopped) return;
        this.opts.onWarn("KV watch ended by itself; watching again");
        void this.restart();
      });
    await ready;
  }

  /** Compares the watch with the stream: behind twice in a row, with no progress, is a stall. */
  private async check(): Promise<void> {
    if (this.stopped || this.restarting) return;
    try {
      const last = (await this.kv.status()).streamInfo.state.last_seq;
      if (last <= this.lastSeen) {
        this.behindAt = undefined;
        return;
      }
      if (this.behindAt === undefined || this.behindAt !== this.lastSeen) {
        this.behindAt = this.lastSeen;
        return;
      }
      this.opts.onWarn(`KV watch stalled at revision ${this.lastSeen} (stream at ${last}); watching again`);
      await this.restart();
    } catch (err) {
      this.opts.onWarn("could not check the KV watch", err);
    }
  }

  private restart(): Promise<void> {
    this.restarting ??= (async () => {
      this.drop();
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await withTimeout(this.watch(true), REWATCH_TIMEOUT_MS, "watching a KV bucket again");
          return;
        } catch (err) {
          this.drop();
          const delayMs = Math.min(30_000, 1000 * 2 ** attempt);
          this.opts.onWarn(`could not watch again; retrying in ${delayMs} ms`, err);
          await new Promise((r) => setTimeout(r, delayMs).unref());
        }
      }
    })().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }
}
