/**
 * The open waits of every run (`step.waitForEvent` and `cancelOn`), indexed by event name and kept
 * current from a watch on the WAITS bucket: one subscription for all runs, never a consumer per
 * run. A wait that appears after events it should see (the run registered it after the event
 * passed the matcher) is caught up by reading that event name's events after the wait's start
 * sequence with direct gets.
 */

import { type CompiledExpression, compileExpression, type StoredEvent, type WaitRecord } from "@jetstep/core";
import type { EventLog, WaitsStore } from "@jetstep/jetstream";
import type { MatcherLog } from "./matcher-log.ts";

export interface WaitMatch {
  wait: WaitRecord;
  event: StoredEvent;
}

const CATCH_UP_LIMIT = 10_000;

export class WaitIndex {
  private readonly byName = new Map<string, Map<string, WaitRecord>>();
  private readonly byKey = new Map<string, WaitRecord>();
  /** Invoke waits, by correlation id (looked up directly: no scan, no CEL). */
  private readonly byCorrelation = new Map<string, { key: string; wait: WaitRecord }>();
  private readonly compiled = new Map<string, CompiledExpression | Error>();
  private stopWatch: (() => void) | undefined;
  /**
   * The highest event sequence `match` has started on in this process (undefined: none yet). A
   * wait added now can only have missed events up to it: later ones are matched live.
   */
  private highestMatched: number | undefined;

  constructor(
    private readonly store: WaitsStore,
    private readonly events: EventLog,
    private readonly onMatch: (m: WaitMatch) => Promise<void>,
    private readonly log: MatcherLog,
    private readonly now: () => number,
  ) {}

  get size(): number {
    let n = 0;
    for (const m of this.byName.values()) n += m.size;
    return n;
  }

  /**
   * Loads every open wait and follows changes (through outages: see KvFollower); resolves after
   * the initial load. A wait that appears again after a watch stalled is caught up like a new one.
   */
  async watch(): Promise<void> {
    const follower = this.store.follow({
      onPut: (key, wait) => {
        if (this.add(key, wait))
          void this.catchUp(key, wait, this.highestMatched).catch((err) =>
            this.log.warn(waitFields(wait), `catch-up failed: ${err}`),
          );
      },
      onRemove: (key) => this.remove(key),
      onResync: (present) => {
        for (const key of [...this.byKey.keys()]) if (!present.has(key)) this.remove(key);
      },
      // Trouble with the WAITS watch itself (stalled, made again).
      onWarn: (message, err) => this.log.warn({ err, bucket: "waits" }, message),
    });
    this.stopWatch = () => follower.stop();
    await follower.start();
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** Matches a newly stored event (sequence `seq`) against the open waits for its name. */
  async match(event: StoredEvent, seq: number): Promise<void> {
    if (this.highestMatched === undefined || seq > this.highestMatched) this.highestMatched = seq;
    const correlationId = event.data.correlation_id;
    if (typeof correlationId === "string") {
      const invoke = this.byCorrelation.get(correlationId);
      if (invoke && seq > invoke.wait.afterSeq) await this.onMatch({ wait: invoke.wait, event });
    }
    const waits = this.byName.get(event.name);
    if (!waits) return;
    const now = this.now();
    const matched: WaitMatch[] = [];
    for (const wait of waits.values()) {
      if (seq <= wait.afterSeq || (wait.until !== undefined && wait.until < now)) continue;
      if (this.test(wait, event)) matched.push({ wait, event });
    }
    await Promise.all(matched.map((m) => this.onMatch(m)));
  }

  private add(key: string, wait: WaitRecord): boolean {
    this.byKey.set(key, wait);
    if (wait.correlationId) {
      const isNew = !this.byCorrelation.has(wait.correlationId);
      this.byCorrelation.set(wait.correlationId, { key, wait });
      return isNew;
    }
    let waits = this.byName.get(wait.event);
    if (!waits) {
      waits = new Map();
      this.byName.set(wait.event, waits);
    }
    const isNew = !waits.has(key);
    waits.set(key, wait);
    return isNew;
  }

  private remove(key: string): void {
    const wait = this.byKey.get(key);
    if (!wait) return;
    this.byKey.delete(key);
    if (wait.correlationId) {
      if (this.byCorrelation.get(wait.correlationId)?.key === key)
        this.byCorrelation.delete(wait.correlationId);
      return;
    }
    const waits = this.byName.get(wait.event);
    if (waits?.delete(key) && waits.size === 0) this.byName.delete(wait.event);
  }

  /**
   * Matches a new wait against the events stored after it began that the live path may have
   * missed: up to `untilSeq` (what `match` had reached when the wait was added), or all of them
   * before this process matched any (an earlier matcher may have passed them). Bounding it keeps a
   * fan-out of N invokes from reading the N finish events N times.
   */
  private async catchUp(key: string, wait: WaitRecord, untilSeq: number | undefined): Promise<void> {
    if (untilSeq !== undefined && untilSeq <= wait.afterSeq) return;
    const candidates = await this.events.after(wait.event, wait.afterSeq, CATCH_UP_LIMIT, untilSeq);
    for (const { event } of candidates) {
      const open = wait.correlationId
        ? this.byCorrelation.get(wait.correlationId)?.key === key
        : this.byName.get(wait.event)?.has(key);
      if (!open) return; // resolved meanwhile
      const hit = wait.correlationId
        ? event.data.correlation_id === wait.correlationId
        : this.test(wait, event);
      if (hit) {
        await this.onMatch({ wait, event });
        return;
      }
    }
  }

  /** Evaluates the wait's expression; an evaluation error is no match, logged once per wait. */
  private test(wait: WaitRecord, candidate: StoredEvent): boolean {
    if (!wait.if) return true;
    let c = this.compiled.get(wait.if);
    if (!c) {
      try {
        c = compileExpression(wait.if);
      } catch (e) {
        c = e as Error;
      }
      this.compiled.set(wait.if, c);
    }
    const result =
      c instanceof Error
        ? { value: false, error: c.message }
        : c.test({ event: wait.trigger, async: candidate });
    if (result.error) {
      this.log.once(
        `wait|${wait.runId}/${wait.waitId}`,
        waitFields(wait),
        `expression ${JSON.stringify(wait.if)} failed on event ${candidate.id}: ${result.error}; counted as no match`,
      );
    }
    return result.value;
  }
}

function waitFields(wait: WaitRecord): Record<string, unknown> {
  return { runId: wait.runId, fnId: wait.fnId, waitId: wait.waitId };
}
