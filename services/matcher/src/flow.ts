/**
 * Flow control decided when an event is matched, with state in the FLOW bucket (compare-and-set,
 * so several matchers agree):
 * - `rateLimit {limit, period, key?}`: GCRA; an event over the limit starts no run (the skip is
 *   recorded on the event).
 * - `throttle {limit, period, burst?, key?}`: decided when the run starts, not here. The run
 *   carries the limit (`ThrottleSpec`) and is queued under its key in THROTTLE (the matcher does
 *   that when it starts the run, in arrival order); the executor lets the queue's head start when
 *   a start is due by the clock at that moment (GCRA in FLOW). None is dropped.
 * - `singleton {key?, mode}`: one active run per key; `skip` drops the newcomer, `cancel` cancels
 *   the active run and starts the newcomer.
 * A key expression that fails on an event uses the key's default bucket (logged once).
 */

import {
  type CompiledValueExpression,
  type FunctionSpec,
  type InboxCommand,
  isActive,
  Keys,
  rateLimitAdmit,
  type StoredEvent,
  Subjects,
  statusOf,
  type ThrottleSpec,
} from "@jetstep/core";
import {
  type FlowStore,
  type Publisher,
  type RegisteredFunction,
  type RunLog,
  readRun,
  type SnapshotStore,
} from "@jetstep/jetstream";
import { keyHash } from "./idempotency.ts";
import type { MatcherLog } from "./matcher-log.ts";

type SingletonSpec = NonNullable<FunctionSpec["singleton"]>;

export type FlowDecision = { start: false; reason: string } | { start: true; throttle?: ThrottleSpec };

export class FlowControl {
  constructor(
    private readonly store: FlowStore,
    private readonly runLog: RunLog,
    private readonly snapshots: SnapshotStore,
    private readonly publisher: Publisher,
    private readonly log: MatcherLog,
    private readonly now: () => number,
  ) {}

  /** Whether (and when) the run `runId` of `f` for `event` starts. */
  async decide(f: RegisteredFunction, event: StoredEvent, runId: string): Promise<FlowDecision> {
    const { rateLimit, singleton, throttle: t } = f.spec;
    if (rateLimit) {
      const admitted = await this.cas("rate", f, event, rateLimit.key, (tat) => {
        const r = rateLimitAdmit(tat, this.now(), { limit: rateLimit.limit, periodMs: rateLimit.periodMs });
        return { tat: r.tat, result: r.admitted, write: r.admitted };
      });
      if (!admitted)
        return { start: false, reason: `rateLimit: over ${rateLimit.limit} per ${rateLimit.period}` };
    }
    if (singleton) {
      const decision = await this.singleton(f, singleton, event, runId);
      if (decision) return decision;
    }
    if (t) {
      const throttle: ThrottleSpec = {
        key: Keys.flow("throttle-start", f.fn.id, this.hash(f, t.key, event)),
        limit: t.limit,
        periodMs: t.periodMs,
        ...(t.burst ? { burst: t.burst } : {}),
        queued: true,
      };
      return { start: true, throttle };
    }
    return { start: true };
  }

  /** Singleton: claims the key for `runId` unless another run holding it is still active. */
  private async singleton(
    f: RegisteredFunction,
    cfg: SingletonSpec,
    event: StoredEvent,
    runId: string,
  ): Promise<FlowDecision | undefined> {
    const key = Keys.flow("singleton", f.fn.id, this.hash(f, cfg.key, event));
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.store.get(key);
      const holder = current?.value;
      if (holder && holder !== runId) {
        const { snapshot } = await readRun(this.runLog, this.snapshots, holder);
        const status = statusOf(snapshot);
        const active = status === "empty" || isActive(status);
        if (active && cfg.mode === "skip")
          return { start: false, reason: `singleton: run ${holder} is still active` };
        if (active && cfg.mode === "cancel") {
          const cmd: InboxCommand = {
            type: "cancel",
            runId: holder,
            reason: `singleton: replaced by run ${runId}`,
          };
          await this.publisher.publishJson(Subjects.inbox(snapshot.context.partition), cmd, {
            msgId: `cancel-${holder}`,
          });
        }
      }
      if (holder === runId) return undefined;
      // Lost: another matcher changed the holder meanwhile: look again.
      if ((await this.store.compareAndSet(key, runId, current)).ok) return undefined;
    }
    throw new Error(`singleton of ${f.fn.id}: too much contention`);
  }

  /** Read-modify-write of a GCRA TAT with compare-and-set. */
  private async cas<T>(
    kind: string,
    f: RegisteredFunction,
    event: StoredEvent,
    keyExpr: CompiledValueExpression | undefined,
    step: (tat: number | undefined) => { tat: number; result: T; write: boolean },
  ): Promise<T> {
    const key = Keys.flow(kind, f.fn.id, this.hash(f, keyExpr, event));
    for (let attempt = 0; attempt < 50; attempt++) {
      const current = await this.store.get(key);
      const tat = current?.value !== undefined ? Number(current.value) : undefined;
      const r = step(tat);
      if (!r.write) return r.result;
      // Lost a race with another matcher: read again.
      if ((await this.store.compareAndSet(key, String(r.tat), current)).ok) return r.result;
    }
    throw new Error(`${kind} of ${f.fn.id}: too much contention`);
  }

  private hash(
    f: RegisteredFunction,
    keyExpr: CompiledValueExpression | undefined,
    event: StoredEvent,
  ): string {
    if (!keyExpr) return keyHash("");
    const r = keyExpr.evaluate({ event });
    if (r.error === undefined) return keyHash(r.value);
    this.log.once(
      `flow|${f.fn.id}|${keyExpr.source}`,
      { fnId: f.fn.id },
      `key ${JSON.stringify(keyExpr.source)} failed on an event (${r.error}); using the default bucket`,
    );
    return keyHash({ defaultBucket: true });
  }
}
