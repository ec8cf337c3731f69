/**
 * `debounce: { period, key?, timeout? }`: a run starts once no matching event arrived for `period`
 * (or `timeout` after the first one), with the last event. Pending state per function and key
 * lives in the DEBOUNCES bucket (compare-and-set); every matcher watches it and the one that marks
 * an entry `flushing` (compare-and-set) starts the run, whose id comes from the last event, so a
 * repeated flush after a crash starts nothing twice.
 */

import { type FunctionSpec, Keys, runIdFor, type StoredEvent, StoredEventSchema } from "@jetstep/core";
import type { DebounceStore, EventLog, RegisteredFunction } from "@jetstep/jetstream";
import { keyHash } from "./idempotency.ts";
import type { MatcherLog } from "./matcher-log.ts";

/** A function's `debounce`, normalised. */
export type DebounceSpec = NonNullable<FunctionSpec["debounce"]>;

interface Pending {
  fnId: string;
  eventId: string;
  seq: number;
  ts: number;
  firstAt: number;
  dueAt: number;
  flushing?: boolean;
}

export type StartDebounced = (
  f: RegisteredFunction,
  runId: string,
  event: StoredEvent,
  seq: number,
) => Promise<void>;

export class Debouncer {
  private readonly due = new Map<string, number>();
  private stopWatch: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: DebounceStore<Pending>,
    private readonly events: Pick<EventLog, "at">,
    private readonly functions: () => RegisteredFunction[],
    private readonly start: StartDebounced,
    private readonly log: MatcherLog,
    private readonly now: () => number,
  ) {}

  async watch(): Promise<void> {
    const follower = this.store.follow({
      onPut: (key, pending) => this.due.set(key, pending.dueAt),
      onRemove: (key) => this.due.delete(key),
      onResync: (present) => {
        for (const key of [...this.due.keys()]) if (!present.has(key)) this.due.delete(key);
      },
      onWarn: (message, err) => this.log.warn({ err }, `debounces: ${message}`),
    });
    this.stopWatch = () => follower.stop();
    await follower.start();
    this.sweeper = setInterval(
      () => void this.sweep().catch((err) => this.log.warn({ err }, "debounce sweep failed")),
      200,
    );
    this.sweeper.unref();
  }

  stop(): void {
    this.stopWatch?.();
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Records the event as the latest of its key and pushes the start back by `period`. */
  async add(f: RegisteredFunction, cfg: DebounceSpec, event: StoredEvent, seq: number): Promise<void> {
    const value = cfg.key ? cfg.key.evaluate({ event }) : { value: "" };
    const key = Keys.flow(
      "debounce",
      f.fn.id,
      keyHash(value.error === undefined ? value.value : { defaultBucket: true }),
    );
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await this.store.get(key);
      const prev = current?.value;
      if (prev?.flushing) {
        await new Promise((r) => setTimeout(r, 20)); // being started: the next event opens a new window
        continue;
      }
      if (prev && prev.seq >= seq) return; // redelivered or older than the latest
      const now = this.now();
      const firstAt = prev?.firstAt ?? now;
      const cap = cfg.timeoutMs !== undefined ? firstAt + cfg.timeoutMs : Number.POSITIVE_INFINITY;
      const next: Pending = {
        fnId: f.fn.id,
        eventId: event.id,
        seq,
        ts: event.ts,
        firstAt,
        dueAt: Math.min(now + cfg.periodMs, cap),
      };
      if ((await this.store.compareAndSet(key, next, current)).ok) return;
      // Lost a race: read again.
    }
    throw new Error(`debounce of ${f.fn.id}: too much contention`);
  }

  /** The run id a debounced event gets if it turns out to be the last of its window. */
  static runIdOf(eventId: string, fnId: string, ts: number): string {
    return runIdFor(eventId, fnId, ts);
  }

  private async sweep(): Promise<void> {
    const now = this.now();
    for (const [key, dueAt] of this.due) {
      if (dueAt > now) continue;
      const e = await this.store.get(key);
      const pending = e?.value;
      if (!e || !pending) {
        this.due.delete(key);
        continue;
      }
      if (pending.dueAt > now) continue;
      let rev = e.revision;
      if (!pending.flushing) {
        const marked = await this.store.compareAndSet(key, { ...pending, flushing: true }, e);
        if (!marked.ok) continue; // another matcher, or a newer event, got there first
        rev = marked.revision;
      }
      const f = this.functions().find((x) => x.fn.id === pending.fnId);
      const stored = f ? await this.events.at(pending.seq) : null;
      const parsed = stored ? StoredEventSchema.safeParse(stored) : undefined;
      if (f && parsed?.success)
        await this.start(
          f,
          Debouncer.runIdOf(pending.eventId, pending.fnId, pending.ts),
          parsed.data,
          pending.seq,
        );
      else
        this.log.warn(
          {},
          `dropping the debounced event ${pending.eventId} of ${pending.fnId}: function or event gone`,
        );
      await this.store.removeAt(key, rev);
      this.due.delete(key);
    }
  }
}
