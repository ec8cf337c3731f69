/**
 * What a run's state implies outside its log, kept in step with it by the run's owner: its ACTIVE
 * marker (due or parked), its RUN_INDEX record (also when it is stuck), its open waits in WAITS, the invoke events it sent
 * and the lifecycle events of its end. What it remembers of a run (the waits it registered, the
 * invokes it sent) is dropped with `forget` when the run ends.
 */
import {
  type ActiveRun,
  type DueWait,
  deterministicUlid,
  InternalEvents,
  invokedEventId,
  Keys,
  publicStatus,
  type RunContext,
  type RunIndexRecord,
  type StoredEvent,
  Subjects,
  statusOf,
  type WaitRecord,
} from "@jetstep/core";
import {
  type ActiveStore,
  type Nats,
  type Publisher,
  readRunIndex,
  type WaitsStore,
} from "@jetstep/jetstream";
import { invokeTraceparent } from "./run-spans.ts";
import type { Actor } from "./run-store.ts";
import type { StuckRun } from "./run-troubles.ts";

export interface RunEffectsDeps {
  nats: Nats;
  publisher: Publisher;
  now: () => number;
  active: Pick<ActiveStore, "mark" | "erase">;
  waits: Pick<WaitsStore, "put" | "remove">;
}

export class RunEffects {
  /** WAITS keys registered per run (what `syncWaits` last wrote). */
  private readonly waitKeys = new Map<string, Map<string, true>>();
  /** Correlation ids of the invokes each run sent. */
  private readonly invokesSent = new Map<string, Set<string>>();

  constructor(private readonly deps: RunEffectsDeps) {}

  /** Forgets what is remembered of a run (it ended). */
  forget(runId: string): void {
    this.waitKeys.delete(runId);
    this.invokesSent.delete(runId);
  }

  private sentInvoke(runId: string, correlationId: string): void {
    const sent = this.invokesSent.get(runId) ?? new Set<string>();
    sent.add(correlationId);
    this.invokesSent.set(runId, sent);
  }

  /**
   * Moves the run's ACTIVE marker between "due" (`p<n>.<runId>`: resumed when a new owner takes
   * the partition) and "parked" (`q<n>.<runId>`: only timers or waits can wake it, and those are
   * reloaded on their own), so a takeover rebuilds only runs with work due. The new marker is
   * written before the old one is deleted.
   */
  async markParked(actor: Actor, parked: boolean): Promise<void> {
    if (actor.parked === parked) return;
    const ctx = actor.snapshot.context;
    const value: ActiveRun = { fnId: ctx.fnId, createdAt: ctx.createdAt };
    const [now, old] = parked
      ? [Keys.parked(ctx.partition, ctx.runId), Keys.active(ctx.partition, ctx.runId)]
      : [Keys.active(ctx.partition, ctx.runId), Keys.parked(ctx.partition, ctx.runId)];
    await this.deps.active.mark(now, value);
    await this.eraseActive(old);
    actor.parked = parked;
  }

  /**
   * Removes an ACTIVE key without leaving a delete marker: a marker per run ever parked or
   * finished would pile up, and every due-run listing would read them all.
   */
  eraseActive(key: string): Promise<void> {
    return this.deps.active.erase(key);
  }

  /** Appends the run's current state to RUN_INDEX (what run listings read). */
  async indexRun(actor: Actor, msgId?: string): Promise<void> {
    const ctx = actor.snapshot.context;
    const record: RunIndexRecord = {
      runId: ctx.runId,
      fnId: ctx.fnId,
      appId: ctx.appId,
      status: publicStatus(statusOf(actor.snapshot), ctx),
      ...(ctx.event ? { eventId: ctx.event.id, eventName: ctx.event.name } : {}),
      startedAt: ctx.createdAt,
      ...(ctx.endedAt !== undefined ? { endedAt: ctx.endedAt } : {}),
    };
    const r = await this.deps.publisher.publish(Subjects.runIndex(ctx.runId), JSON.stringify(record), {
      msgId: msgId ? `${ctx.runId}-${msgId}` : `${ctx.runId}-${record.status}`,
    });
    // Thrown, so that the caller's retry writes it: a run listed as running after it ended would
    // stay so (seen while RUN_INDEX elected a leader after a node died).
    if (!r.ok) throw new Error(`could not index run ${ctx.runId} as ${record.status}: ${r.description}`);
  }

  /**
   * Lists a stuck run as `Stuck` in RUN_INDEX: its record there (written when it started) with the
   * reason, the time it began failing and its log's last sequence, so the listing can tell when
   * another executor moved it on since.
   */
  async indexStuck(stuck: StuckRun, logSeq: number | undefined): Promise<void> {
    const subject = Subjects.runIndex(stuck.runId);
    const current = await readRunIndex(this.deps.nats, stuck.runId).catch(() => undefined);
    const base: RunIndexRecord = current ?? {
      runId: stuck.runId,
      fnId: "",
      appId: "",
      startedAt: stuck.since,
      status: "Running",
    };
    const record: RunIndexRecord = {
      ...base,
      status: "Stuck",
      stuck: { reason: stuck.reason, since: stuck.since, ...(logSeq !== undefined ? { logSeq } : {}) },
    };
    const r = await this.deps.publisher.publish(subject, JSON.stringify(record));
    if (!r.ok) throw new Error(r.description);
  }

  /** Makes the WAITS bucket hold exactly the run's open waits (the matcher watches it). */
  async syncWaits(ctx: RunContext, waits: DueWait[]): Promise<void> {
    const registered = this.waitKeys.get(ctx.runId) ?? new Map<string, true>();
    const wanted = new Map(waits.map((w) => [Keys.wait(w.event, ctx.runId, w.waitId), w] as const));
    const writes: Promise<unknown>[] = [];
    for (const [key, w] of wanted) {
      if (registered.has(key) || !ctx.event) continue;
      const record: WaitRecord = {
        runId: ctx.runId,
        fnId: ctx.fnId,
        partition: ctx.partition,
        waitId: w.waitId,
        kind: w.kind,
        event: w.event,
        afterSeq: w.afterSeq,
        ...(w.if ? { if: w.if } : {}),
        ...(w.until !== undefined ? { until: w.until } : {}),
        ...(w.correlationId ? { correlationId: w.correlationId } : {}),
        trigger: ctx.event,
      };
      writes.push(this.deps.waits.put(key, record).then(() => registered.set(key, true)));
    }
    for (const key of registered.keys()) {
      if (wanted.has(key)) continue;
      writes.push(this.deps.waits.remove(key).then(() => registered.delete(key)));
    }
    // Written together through the publisher's window (a fan-out registers thousands); all must
    // land before the caller goes on.
    const results = await Promise.allSettled(writes);
    if (registered.size > 0) this.waitKeys.set(ctx.runId, registered);
    else this.waitKeys.delete(ctx.runId);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * Sends `inngest/function.invoked` for each invoke the run waits on. The caller's wait is
   * registered first (syncWaits), so the target's finish cannot be missed; the event id is
   * derived from the correlation id, so a resend after a crash is deduplicated.
   */
  async sendInvokes(ctx: RunContext): Promise<void> {
    const sends: Promise<void>[] = [];
    for (const s of Object.values(ctx.steps)) {
      const invoke = s.status === "waiting" ? s.wait?.invoke : undefined;
      if (!invoke || this.invokesSent.get(ctx.runId)?.has(invoke.correlationId)) continue;
      const ts = s.startedAt ?? this.deps.now();
      const id = invokedEventId(invoke.correlationId, ts);
      const event: StoredEvent = {
        id,
        name: InternalEvents.functionInvoked,
        data: {
          ...invoke.data,
          _inngest: {
            fn_id: invoke.functionId,
            correlation_id: invoke.correlationId,
            source_run_id: ctx.runId,
            source_fn_id: ctx.fnId,
          },
        },
        ...(invoke.user ? { user: invoke.user } : {}),
        ...(invoke.meta ? { meta: invoke.meta } : {}),
        ts,
      };
      sends.push(
        this.deps.publisher
          .publish(Subjects.event(event.name), JSON.stringify(event), {
            msgId: id,
            headers: { traceparent: invokeTraceparent(ctx, s.stepId) },
          })
          .then((r) => {
            if (!r.ok) throw new Error(`could not send ${event.name} for run ${ctx.runId}: ${r.description}`);
            this.sentInvoke(ctx.runId, invoke.correlationId);
          }),
      );
    }
    // Sent together (pipelined): a fan-out sends thousands.
    const results = await Promise.allSettled(sends);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** `inngest/function.finished` for every run, plus `…failed` / `…cancelled` (deduplicated by run). */
  async emitLifecycleEvents(actor: Actor): Promise<void> {
    const ctx = actor.snapshot.context;
    const status = statusOf(actor.snapshot);
    // A run started by step.invoke reports back with the caller's correlation id.
    const correlationId = (ctx.event?.data._inngest as { correlation_id?: unknown } | undefined)
      ?.correlation_id;
    const base = {
      function_id: ctx.fnId,
      run_id: ctx.runId,
      event: ctx.event,
      ...(ctx.event?.name === InternalEvents.functionInvoked && typeof correlationId === "string"
        ? { correlation_id: correlationId }
        : {}),
    };
    const outcome =
      status === "completed"
        ? { result: ctx.output ?? null }
        : { error: ctx.error ?? { name: "Cancelled", message: ctx.cancelReason ?? "cancelled" } };
    const events: [string, Record<string, unknown>][] = [
      [InternalEvents.functionFinished, { ...base, ...outcome }],
    ];
    // A compensated run announces what started its compensation.
    const cancelled = status === "cancelled" || ctx.compensation?.reason === "cancelled";
    const compensation = ctx.compensation ? { compensation: status } : {};
    if (cancelled)
      events.push([InternalEvents.functionCancelled, { ...base, reason: ctx.cancelReason, ...compensation }]);
    else if (status !== "completed")
      events.push([InternalEvents.functionFailed, { ...base, error: ctx.error, ...compensation }]);
    const ts = ctx.endedAt ?? this.deps.now();
    const stored: StoredEvent[] = events.map(([name, data]) => ({
      id: deterministicUlid(ts, `${ctx.runId}:${name}`),
      name,
      data,
      ts,
    }));
    stored.push(...deferredEvents(ctx, ts));
    await Promise.all(
      stored.map(async (event) => {
        const r = await this.deps.publisher.publish(Subjects.event(event.name), JSON.stringify(event), {
          msgId: event.id,
        });
        if (!r.ok) throw new Error(`could not emit ${event.name} for run ${ctx.runId}: ${r.description}`);
      }),
    );
  }
}

/**
 * `inngest/deferred.schedule` for each defer the run left scheduled, with the input as data plus
 * `_inngest` naming the deferred function and the parent run (the SDK strips it into
 * `ctx.parents`), and the sessions the defer carried. Ids derive from the run and the defer, so a
 * finish done again after a crash sends each once.
 */
function deferredEvents(ctx: RunContext, ts: number): StoredEvent[] {
  return Object.values(ctx.defers ?? {})
    .filter((d) => d.status === "scheduled")
    .map((d) => ({
      id: deterministicUlid(ts, `${ctx.runId}:defer:${d.deferId}`),
      name: InternalEvents.deferredSchedule,
      data: {
        ...d.input,
        _inngest: {
          fn_slug: d.fnSlug,
          parent_fn_slug: ctx.fnId,
          parent_fn_id: ctx.fnId,
          parent_app_id: ctx.appId,
          parent_run_id: ctx.runId,
        },
      },
      ...(d.meta ? { meta: d.meta } : {}),
      ts,
    }));
}
