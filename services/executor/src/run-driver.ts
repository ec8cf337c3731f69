/**
 * The run driver: performs what a run's state says is due (`kick`: arm its timers, register its
 * waits, send its invokes, mark it due or parked, start its calls), fires its timers, resumes it
 * when nothing else would (`kickLater`, retried with backoff), and ends it (`finish`). A run that
 * keeps failing to move on is listed as stuck.
 */
import { randomUUID } from "node:crypto";
import {
  type DecideOptions,
  type DueCall,
  dispatchId,
  isActive,
  Keys,
  type NewRunLogEntry,
  nextWork,
  type Op,
  openWaits,
  opMetadata,
  statusOf,
  THROTTLE_TIMER,
  TIMEOUT_FINISH,
  TIMEOUT_START,
} from "@jetstep/core";
import {
  type MetadataStore,
  type Publisher,
  type QueuedRun,
  type RunLog,
  readRun,
  type SnapshotStore,
  type WaitsStore,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import type { InFlightCalls } from "./in-flight.ts";
import type { RunEffects } from "./run-effects.ts";
import { traceIdOf } from "./run-spans.ts";
import type { Actor, RunStore } from "./run-store.ts";
import type { HeapTimer, RunTimers } from "./run-timers.ts";
import type { RunTroubles, TroubleKind } from "./run-troubles.ts";
import type { RunWriter } from "./run-writer.ts";
import { Semaphore } from "./semaphore.ts";
import type { ThrottleGate } from "./throttle-gate.ts";

/** A run queued for its throttled start this long ago that still has no log never got its start. */
const NEVER_STARTED_MS = 10 * 60_000;

/** The call key of a discovery call (one that may run many steps). */
export const DISCOVERY = "$discovery";

export const callKey = (c: DueCall): string =>
  c.compensate ? `$compensate:${c.stepId}` : (c.stepId ?? DISCOVERY);

export interface RunDriverDeps {
  log: Logger;
  now: () => number;
  random: () => number;
  config: { maxHotParked: number; snapshotEvery: number; retryIntervalMs?: number };
  metadata: Pick<MetadataStore, "update">;
  snapshots: Pick<SnapshotStore, "get">;
  waits: Pick<WaitsStore, "remove">;
  publisher: Publisher;
  runLog: RunLog;
  runs: RunStore;
  writer: RunWriter;
  timers: RunTimers;
  effects: RunEffects;
  inFlight: InFlightCalls;
  throttleGate: Pick<ThrottleGate, "leave">;
  troubles: RunTroubles;
  owns(p: number): boolean;
  stopped(): boolean;
  /** Starts a due call (the call is already registered in flight under `token`). */
  perform(runId: string, partition: number, call: DueCall, dispatch: string, token: number): void;
}

export class RunDriver {
  /**
   * Resumes under way at most (a takeover or reconcile pass may resume thousands: all at once, their
   * reads and writes timed out together and every one was retried).
   */
  private readonly resumes = new Semaphore(64);
  /** Runs with a resume retry scheduled (`kickLater`): a reconcile pass does not start another. */
  private readonly resumeRetries = new Set<string>();

  constructor(private readonly deps: RunDriverDeps) {}

  /** Performs what the run's state says is due: arm missing timers, start calls not in flight. */
  async kick(actor: Actor): Promise<void> {
    const { runs, inFlight, effects } = this.deps;
    const ctx = actor.snapshot.context;
    const status = statusOf(actor.snapshot);
    if (!isActive(status)) {
      if (status !== "empty") await this.finish(actor);
      return;
    }
    const work = nextWork(actor.snapshot);
    await this.deps.timers.arm(ctx.runId, ctx.partition, work.timers);
    await effects.syncWaits(ctx, work.waits);
    await effects.sendInvokes(ctx);
    await effects.markParked(actor, work.calls.length === 0);
    // Parked runs wake only by a timer or a wait; beyond a few thousand, keep them out of memory
    // (a snapshot makes the later rebuild a KV get plus a short tail).
    // A run whose state is too large for a snapshot stays: rebuilding it would replay its whole log
    // (a fan-out parent waiting on 10,000 invokes was evicted and reloaded at every match).
    if (actor.parked && runs.hotCount > this.deps.config.maxHotParked) {
      if (await runs.saveSnapshot(actor, this.deps.writer.maxMessageBytes())) runs.evict(ctx.runId);
    }
    if (work.calls.length > 0 && !actor.claimed) await this.deps.writer.claim(actor);
    for (const call of work.calls) {
      const key = callKey(call);
      if (inFlight.has(ctx.runId, key)) continue;
      // A discovery call may run many steps, reporting each by checkpoint under this id.
      const dispatch = key === DISCOVERY ? dispatchId(ctx.partition, randomUUID().replaceAll("-", "")) : "";
      const token = inFlight.add(ctx.runId, ctx.partition, key, dispatch);
      this.deps.perform(actor.runId, ctx.partition, call, dispatch, token);
    }
  }

  /**
   * Resumes a run of an owned partition. If that fails (its log cannot be read while a stream
   * elects a leader, say), it is tried again with backoff: nothing else would wake the run until
   * its partition changes hands.
   */
  kickLater(runId: string, attempt = 0): void {
    // One retry chain per run: reconcile passes find a failing run due again and again.
    if (attempt === 0 && this.resumeRetries.has(runId)) return;
    void this.resumes
      .run(() =>
        this.deps.runs.withActor(runId, async (a) => {
          this.resumeRetries.delete(runId);
          if (!this.deps.owns(a.snapshot.context.partition)) {
            this.deps.troubles.forget(runId);
            return;
          }
          await this.kick(a);
          this.progressed(a, "resume");
        }),
      )
      .catch((e) => {
        if (this.deps.stopped()) return;
        const delayMs = Math.min(30_000, 1000 * 2 ** attempt);
        this.deps.log.error({ err: e, runId, retryInMs: delayMs }, "could not resume run; retrying");
        this.resumeRetries.add(runId);
        this.troubled(runId, "resume", e);
        setTimeout(() => this.kickLater(runId, attempt + 1), delayMs).unref();
      });
  }

  /** A timer fired: recorded if the run still waits for it, then the run goes on. */
  onTimer(t: HeapTimer): void {
    if (!this.deps.owns(t.partition)) return;
    void this.deps.runs
      .withActor(t.runId, async (actor) => {
        const pending = nextWork(actor.snapshot).timers.some((x) => x.timerId === t.timerId);
        if (pending && isActive(statusOf(actor.snapshot))) {
          await this.deps.writer.append(actor, [
            { type: "timer.fired", ts: this.deps.now(), timerId: t.timerId },
          ]);
        }
        // Kick (which marks the run due again) before deleting the timer: a crash in between
        // leaves either the timer or the due marker, never neither.
        await this.kick(actor);
        await this.deps.timers.handled(t);
        this.progressed(actor, "timer");
      })
      .catch((e) => {
        this.deps.log.error(
          { err: e, runId: t.runId, timerId: t.timerId },
          "timer handling failed; retrying in 1 s",
        );
        this.troubled(t.runId, "timer", e);
        this.deps.timers.retry(t, 1000);
      });
  }

  /**
   * Notes a failure to move the run on. Once it has failed for `stuckAfterMs`, it is logged with
   * the reason and listed as `Stuck` (`GET /v1/runs?status=Stuck`); retries go on.
   */
  troubled(runId: string, kind: TroubleKind, err: unknown): void {
    const stuck = this.deps.troubles.failed(runId, kind, (err as Error)?.message ?? String(err));
    if (!stuck) return;
    const { log, now } = this.deps;
    log.error(
      { runId, reason: stuck.reason, failures: stuck.failures, failingForMs: now() - stuck.since },
      "run is stuck: the executor keeps failing to move it on (still retrying)",
    );
    void this.deps.runLog
      .lastSeq(runId)
      .catch(() => undefined)
      .then((logSeq) => this.deps.effects.indexStuck(stuck, logSeq))
      .catch((e) => log.warn({ err: e, runId }, "could not list the run as stuck"));
  }

  /** Notes that `kind` worked for the run; a run listed as stuck is listed as running again. */
  progressed(actor: Actor, kind: TroubleKind): void {
    const { troubles, log } = this.deps;
    if (troubles.size === 0 || !troubles.cleared(actor.runId, kind)) return;
    log.info({ runId: actor.runId }, "run is no longer stuck");
    if (isActive(statusOf(actor.snapshot)))
      void this.deps.effects
        .indexRun(actor, `unstuck-${this.deps.now()}`)
        .catch((e) => log.warn({ err: e, runId: actor.runId }, "could not list the run as running again"));
  }

  /** How answers and reports are decided now (the clock, randomness, retry intervals). */
  decideOptions(eventsLastSeq: number | undefined): DecideOptions {
    const fixed = this.deps.config.retryIntervalMs;
    return {
      now: this.deps.now(),
      random: this.deps.random,
      ...(eventsLastSeq !== undefined ? { eventsLastSeq } : {}),
      ...(fixed !== undefined ? { fixedRetryIntervalMs: fixed } : {}),
    };
  }

  /**
   * Metadata a step wrote while it ran (`op.metadata`: scores and the like) goes to the run's
   * metadata, on the step or, for a run-scoped write, on the run. Written after the step is
   * recorded; a failure is logged, not retried (the step's result is what must not be lost).
   */
  async recordOpMetadata(runId: string, ops: readonly Op[]): Promise<void> {
    const metadata = this.deps.metadata;
    for (const op of ops) {
      if ((op as { metadata?: unknown }).metadata === undefined) continue;
      const { run, step } = opMetadata(op);
      try {
        if (run.length) await metadata.update(runId, undefined, run);
        if (step.length) await metadata.update(runId, op.id, step);
      } catch (err) {
        this.deps.log.warn({ err, runId, stepId: op.id }, "could not record a step's metadata");
      }
    }
  }

  /** Logs what a call or report decided: failures and ends always, the rest at trace level. */
  logOutcome(actor: Actor, call: Pick<DueCall, "stepId" | "attempt">, entries: NewRunLogEntry[]): void {
    const log = this.deps.log;
    const ctx = actor.snapshot.context;
    const traced = log.isLevelEnabled("trace");
    for (const e of entries) {
      // Most entries are logged at trace level: build nothing for them unless it is on.
      const quiet =
        e.type !== "step.errored" &&
        e.type !== "step.failed" &&
        e.type !== "run.failed" &&
        e.type !== "run.completed";
      if (quiet && !traced) continue;
      const fields = {
        runId: ctx.runId,
        fnId: ctx.fnId,
        traceId: traceIdOf(ctx),
        stepId: "stepId" in e ? e.stepId : call.stepId,
        attempt: call.attempt,
      };
      if (e.type === "step.errored")
        log.warn({ ...fields, err: e.error, retryAt: e.retryAt }, "step errored; will retry");
      else if (e.type === "step.failed") log.warn({ ...fields, err: e.error }, "step failed");
      else if (e.type === "run.failed") log.warn({ ...fields, err: e.error }, "run failed");
      else if (e.type === "run.completed") log.info(fields, "run completed");
      else log.trace(fields, e.type);
    }
  }

  /**
   * Whether a run at the head of a throttle queue will never take its start: it ended (or started
   * and lost its removal), or it has no log long after it was queued (its start never came).
   */
  async neverStarts(queued: QueuedRun): Promise<boolean> {
    const { snapshot } = await readRun(this.deps.runLog, this.deps.snapshots, queued.runId);
    const status = statusOf(snapshot);
    if (status === "empty") return this.deps.now() - queued.ts > NEVER_STARTED_MS;
    return !isActive(status) || snapshot.context.started === true;
  }

  /** A run reached a final state: drop its active marker and timers, keep a snapshot. */
  private async finish(actor: Actor): Promise<void> {
    const { effects, runs } = this.deps;
    const ctx = actor.snapshot.context;
    const timerIds = [TIMEOUT_START, TIMEOUT_FINISH, THROTTLE_TIMER];
    for (const s of Object.values(ctx.steps)) if (s.timerId) timerIds.push(s.timerId);
    await Promise.all(timerIds.map((id) => this.deps.timers.drop(ctx.runId, id)));
    await effects.syncWaits(ctx, []);
    // Open waits registered by an earlier owner are not in this process's memory: delete them too.
    await Promise.all(
      openWaits(ctx).map((w) => this.deps.waits.remove(Keys.wait(w.event, ctx.runId, w.waitId))),
    );
    // A throttled run that ended before its start leaves its key's queue (the next one goes).
    if (ctx.throttle && !ctx.started) await this.deps.throttleGate.leave(ctx.throttle, ctx.runId);
    await effects.emitLifecycleEvents(actor);
    await effects.indexRun(actor);
    // The final state, for whoever reads the run later: unless the log since the last snapshot is
    // short enough to replay (a 10-step run's 13 entries), which saves a write and a serialization
    // of the whole run per run.
    if (actor.sinceSnapshot >= this.deps.config.snapshotEvery)
      await runs.saveSnapshot(actor, this.deps.writer.maxMessageBytes());
    // Only the marker markParked last wrote exists, unless this process never marked the run
    // (rebuilt after a crash, say): then either may.
    const due = Keys.active(ctx.partition, ctx.runId);
    const parked = Keys.parked(ctx.partition, ctx.runId);
    for (const key of actor.parked === undefined ? [due, parked] : [actor.parked ? parked : due])
      await effects.eraseActive(key);
    this.deps.inFlight.dropRun(ctx.runId);
    effects.forget(ctx.runId);
    this.deps.troubles.forget(ctx.runId);
    runs.evict(ctx.runId);
  }
}
