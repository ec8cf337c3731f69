/**
 * Calls to apps, one per due call of a run: wait for the run's throttle turn and concurrency
 * slots, call the app while this executor's lease on the partition is valid (the fence), and
 * record what it answered. An answer is recorded only by the owner of the call that is still in
 * flight; a call held back by the fence is made again later, never counted as a failure.
 */
import {
  type AppAnswer,
  type AppUrlPolicy,
  appUrlPolicy,
  type DecideOptions,
  type DueCall,
  decideAnswer,
  isActive,
  isCallDue,
  type NewRunLogEntry,
  type Op,
  OpCodes,
  type RunSnapshot,
  STALE_DISPATCH_ERROR,
  statusOf,
  type ThrottleSpec,
} from "@jetstep/core";
import { type EventLog, type Nats, type PausedFunctions, PauseWatchStoppedError } from "@jetstep/jetstream";
import type { GaugeReading, Logger, RunMetrics } from "@jetstep/telemetry";
import { callApp, FencedCallError } from "./app-client.ts";
import { ConcurrencyGate } from "./concurrency-gate.ts";
import type { InFlightCalls } from "./in-flight.ts";
import type { PartitionOwner } from "./partition-owner.ts";
import { callKey } from "./run-driver.ts";
import { AttemptSpan, recordStepSpans } from "./run-spans.ts";
import type { Actor, RunStore } from "./run-store.ts";
import type { TroubleKind } from "./run-troubles.ts";
import { Semaphore } from "./semaphore.ts";
import type { ThrottleGate } from "./throttle-gate.ts";

/** How soon a run whose call was held back by the lease fence is tried again. */
const FENCE_RETRY_MS = 250;

/**
 * How long an answer that came back while the run's partition was not ours is kept, waiting for
 * the partition to be ours again (at least this, or three lease TTLs). Dropped, the step would be
 * called again once the partition is retaken. Measured: on a starved machine (`npm test` beside a
 * CPU hog) a lone executor's leases lapsed and were retaken more than one TTL later, and a sleeping
 * run's next step ran twice.
 */
const ANSWER_HOLD_MS = 30_000;

/** What recording an answer needs of the run driver. */
export interface CallDriver {
  append(actor: Actor, entries: NewRunLogEntry[]): Promise<unknown>;
  kick(actor: Actor): Promise<void>;
  kickLater(runId: string): void;
  decideOptions(eventsLastSeq: number | undefined): DecideOptions;
  logOutcome(actor: Actor, call: DueCall, entries: NewRunLogEntry[]): void;
  recordOpMetadata(runId: string, ops: readonly Op[]): Promise<void>;
  progressed(actor: Actor, kind: TroubleKind): void;
  troubled(runId: string, kind: TroubleKind, err: unknown): void;
}

export interface AppCallsDeps {
  log: Logger;
  now: () => number;
  /** Counts calls that brought back no answer of the app's code. */
  metrics: RunMetrics;
  nats: Nats;
  config: {
    callTimeoutMs: number;
    leaseTtlMs: number;
    maxInFlightCalls: number;
    signingKey?: string;
    allowAppUrls?: string[];
  };
  runs: RunStore;
  inFlight: InFlightCalls;
  eventLog: Pick<EventLog, "lastSeq">;
  throttleGate: ThrottleGate;
  /** Paused functions: a run of one makes its first call once the function is resumed. */
  paused: Pick<PausedFunctions, "whenResumed">;
  owner: Pick<PartitionOwner, "owns" | "valid" | "active" | "whenValid">;
  driver: CallDriver;
}

/** One call of a run, from its wait for slots to its answer's record. */
interface Attempt {
  runId: string;
  partition: number;
  call: DueCall;
  dispatch: string;
  token: number;
  key: string;
  startedAt: number;
  answeredAt: number;
  span?: AttemptSpan;
  /** Held back (by the lease fence, or a throttle that could not be read): the app was not called. */
  fenced: boolean;
  sent: boolean;
  /** The throttle whose queue this call's run waits in (it leaves once the answer is recorded). */
  inQueue?: ThrottleSpec;
}

export class AppCalls {
  private readonly slots: Semaphore;
  private readonly gate = new ConcurrencyGate();
  private readonly appUrls: AppUrlPolicy;
  private readonly queued = new Map<string, [string, number]>();

  constructor(private readonly deps: AppCallsDeps) {
    this.slots = new Semaphore(deps.config.maxInFlightCalls);
    this.appUrls = appUrlPolicy(deps.config.allowAppUrls);
  }

  /** Concurrency keys with slots in use or calls waiting (gauges). */
  concurrency(): GaugeReading[] {
    return this.gate.readings();
  }

  /**
   * Calls of each function not going out yet: waiting for a throttle turn, a concurrency slot or
   * a free call slot (fnId → [appId, calls]; the function charts' backlog).
   */
  backlog(): ReadonlyMap<string, readonly [string, number]> {
    return this.queued;
  }

  /** Makes the call (registered in flight under `token`) and records its answer. */
  async perform(
    runId: string,
    partition: number,
    call: DueCall,
    dispatch: string,
    token: number,
  ): Promise<void> {
    const startedAt = this.deps.now();
    const a: Attempt = {
      runId,
      partition,
      call,
      dispatch,
      token,
      key: callKey(call),
      startedAt,
      answeredAt: startedAt,
      fenced: false,
      sent: false,
    };
    const answer = await this.send(a);
    // A wait matches only events stored after it began: note where EVENTS ends now.
    let eventsLastSeq: number | undefined;
    if (
      answer.kind === "ops" &&
      answer.ops.some((op) => op.op === OpCodes.waitForEvent || op.op === OpCodes.invokeFunction)
    ) {
      eventsLastSeq = await this.deps.eventLog.lastSeq().catch(() => undefined);
    }
    // The lease lapsed while this call was out (a renewal late under load, or the partition given
    // up and being taken back): the app has run the step, so wait for it to be ours again
    // (ANSWER_HOLD_MS) rather than drop the answer and call the step again. Taken by another
    // process, the answer is dropped below (not the owner). The call stays in flight meanwhile, so the
    // partition taken back does not call it a second time.
    // The lease may lapse again between its return and the record (renewals late under load come
    // in bursts): the record then says so and the answer waits again, within the same hold.
    const holdUntil = this.deps.now() + Math.max(ANSWER_HOLD_MS, 3 * this.deps.config.leaseTtlMs);
    let result: Awaited<ReturnType<AppCalls["record"]>>;
    for (;;) {
      const left = holdUntil - this.deps.now();
      if (!a.fenced && !this.deps.owner.valid(partition) && left > 0)
        await this.deps.owner.whenValid(partition, left);
      result = await this.record(a, answer, eventsLastSeq, this.deps.now() < holdUntil);
      if (!result.lapsed) break;
    }
    const { recorded, ownSpans } = result;
    if (a.sent) this.deps.inFlight.done(partition);
    // The attempt ends when the app answered (before the outcome is recorded, which may end the run).
    if (a.fenced) return;
    a.span?.end(answer, recorded, Math.max(a.answeredAt, a.startedAt), ownSpans);
  }

  /**
   * Fencing: the call goes out only while this executor's lease on the partition is valid (and
   * the call is still wanted), checked again when the request gets its connection. An owner
   * that was paused or starved past its lease must not call a step the next owner recorded.
   */
  private fence(a: Attempt): boolean {
    const { owner, inFlight } = this.deps;
    return owner.valid(a.partition) && owner.active(a.partition) && inFlight.holds(a.runId, a.key, a.token);
  }

  /** The run's state now: the memo must include everything appended so far. */
  private async snapshotOf(runId: string): Promise<RunSnapshot> {
    return (await this.actorOf(runId)).snapshot;
  }

  private async actorOf(runId: string): Promise<Actor> {
    let actor: Actor | undefined;
    await this.deps.runs.withActor(runId, async (a) => {
      actor = a;
    });
    return actor as Actor;
  }

  /** Waits for the run's throttle turn and concurrency slots, then calls the app. */
  private async send(a: Attempt): Promise<AppAnswer> {
    const gate = this.deps.throttleGate;
    let runThrottled = false;
    let leaveQueue: (() => void) | undefined;
    try {
      const runCtx = (await this.snapshotOf(a.runId)).context;
      leaveQueue = this.enqueued(runCtx.fnId, runCtx.appId);
      // A paused function's runs start when it is resumed; runs already going on go on (and
      // compensations run). It waits holding nothing, and counts as backlog meanwhile.
      if (!runCtx.started && !a.call.compensate) await this.deps.paused.whenResumed(runCtx.fnId);
      // A throttled run's first call goes out only at the head of its key's queue (arrival order)
      // and when a start is due at that moment (a start delayed by load must not let this one
      // come early); compensations are not starts. It waits for its turn holding nothing.
      const throttle = !runCtx.started && !a.call.compensate ? runCtx.throttle : undefined;
      runThrottled = throttle !== undefined;
      const takesStart = throttle ? await gate.turn(throttle, a.runId) : false;
      const start = takesStart ? throttle : undefined;
      if (start?.queued) a.inQueue = start;
      // Then for the run's concurrency slots, so waiting runs hold no call slot.
      const release = await this.gate.acquire(
        runCtx.concurrency ?? [],
        this.deps.now() - (runCtx.priority ?? 0) * 1000,
      );
      try {
        let called: AppAnswer | undefined;
        while (!called) {
          if (start) await gate.due(start);
          called = await this.slots.run(() => {
            leaveQueue?.();
            return this.callOnce(a, start);
          });
        }
        return called;
      } finally {
        release();
      }
    } catch (e) {
      // Held back, not failed: by the lease fence, or a throttle whose state could not be read
      // (FLOW electing a leader, say). Either way the app was not called; it is tried again.
      // Or by a stop while its function was paused: the next owner holds it in turn.
      a.fenced =
        e instanceof FencedCallError || e instanceof PauseWatchStoppedError || (!a.sent && runThrottled);
      if (a.fenced && !(e instanceof FencedCallError) && !(e instanceof PauseWatchStoppedError))
        this.deps.log.warn({ err: e, runId: a.runId }, "could not apply the run's throttle; trying again");
      return {
        kind: "transport",
        message: `executor could not call the app: ${(e as Error).message}`,
        failure: "refused",
      };
    } finally {
      leaveQueue?.();
    }
  }

  /** Counts a call of `fnId` as queued; returns its leaving (once, however often called). */
  private enqueued(fnId: string, appId: string): () => void {
    const entry = this.queued.get(fnId) ?? [appId, 0];
    entry[1]++;
    this.queued.set(fnId, entry);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      entry[1]--;
      if (entry[1] <= 0 && this.queued.get(fnId) === entry) this.queued.delete(fnId);
    };
  }

  /** Calls the app once (undefined: the throttled start was taken by another run; wait again). */
  private async callOnce(a: Attempt, start: ThrottleSpec | undefined): Promise<AppAnswer | undefined> {
    const actor = await this.actorOf(a.runId);
    // Held back, not failed, if the lease is not valid, if this process has not fenced the run's
    // log since it read it (`claimed`: a copy read while the partition was another's may be behind
    // it), or if the run no longer has this call due: it waited (for slots, a throttle turn, or its
    // partition taken back) while the run moved on, maybe under another executor. The run is
    // kicked again, which fences its log and calls what is due then.
    if (!this.fence(a) || !actor.claimed || !isCallDue(actor.snapshot, a.call)) throw new FencedCallError();
    const ctx = actor.snapshot.context;
    // Registered before the URL was disallowed, or forged: never called.
    const refused = this.appUrls.problem(ctx.url);
    if (refused) throw new Error(refused);
    // The start is the time it was claimed at: the next one is due an interval after it.
    const claimed = start ? await this.deps.throttleGate.take(start) : this.deps.now();
    if (claimed === undefined) return undefined;
    a.sent = true;
    this.deps.inFlight.sent(a.partition);
    a.startedAt = claimed;
    a.span = new AttemptSpan(ctx, a.call, claimed);
    const { signingKey, callTimeoutMs } = this.deps.config;
    const answer = await callApp(ctx, a.call, {
      traceparent: a.span.traceparent,
      ...(a.dispatch ? { dispatchId: a.dispatch } : {}),
      timeoutMs: callTimeoutMs,
      now: this.deps.now,
      nats: this.deps.nats,
      serverKind: signingKey ? "cloud" : "dev",
      ...(signingKey ? { signingKey } : {}),
      fence: () => this.fence(a),
    });
    a.answeredAt = this.deps.now();
    return answer;
  }

  /** Records the answer (if the call is still the run's and this process still owns it). */
  private async record(
    a: Attempt,
    answer: AppAnswer,
    eventsLastSeq: number | undefined,
    mayWait: boolean,
  ): Promise<{ recorded: NewRunLogEntry[]; ownSpans?: Set<string>; lapsed?: boolean }> {
    const { runs, inFlight, owner, driver } = this.deps;
    const out: { recorded: NewRunLogEntry[]; ownSpans?: Set<string>; lapsed?: boolean } = { recorded: [] };
    await runs
      .withActor(a.runId, async (actor) => {
        // The app ran it, and the partition's lease lapsed again (or the partition was given up
        // with it): keep the call in flight and wait for the lease (the caller does), rather than
        // drop the answer and call the step a second time once the partition is back. Another
        // process taking it for the whole hold drops the answer below, as before.
        if (mayWait && a.sent && !a.fenced && !owner.valid(a.partition) && !isStaleDispatch(answer)) {
          out.lapsed = true;
          return;
        }
        // A call replaced meanwhile (its checkpoints were refused with 409), or made before the
        // partition was given up: its answer is void.
        if (!inFlight.end(a.runId, a.key, a.token)) return;
        if (!owner.owns(a.partition) || !isActive(statusOf(actor.snapshot))) return;
        const ctx = actor.snapshot.context;
        if (answer.kind === "transport" && !a.fenced)
          this.deps.metrics.appCallError(ctx.fnId, ctx.appId, answer.failure ?? "refused");
        // Never sent (the fence held it back), or not to be recorded: only while the lease is
        // valid (a lapsed one may already be another executor's, whose 409 to this call's
        // checkpoints the app then reports as its answer). Called again once the lease is valid;
        // kickLater stops if the partition was lost.
        if (a.fenced || !owner.valid(a.partition) || isStaleDispatch(answer)) {
          setTimeout(() => driver.kickLater(a.runId), FENCE_RETRY_MS).unref();
          return;
        }
        const entries = decideAnswer(ctx, a.call, answer, driver.decideOptions(eventsLastSeq));
        for (const e of entries) if ("startedAt" in e) e.startedAt = a.startedAt;
        driver.logOutcome(actor, a.call, entries);
        await driver.append(actor, entries);
        // The run started (its first call answered and recorded): the next in its queue may go.
        if (a.inQueue && a.sent)
          await this.deps.throttleGate
            .leave(a.inQueue, a.runId)
            .catch((e) =>
              this.deps.log.warn({ err: e, runId: a.runId }, "could not leave the throttle queue"),
            );
        if (answer.kind === "ops") await driver.recordOpMetadata(a.runId, answer.ops);
        driver.progressed(actor, "record");
        out.recorded = entries;
        if (answer.kind === "ops" && answer.ops.some((op) => op.span_id !== undefined))
          out.ownSpans = recordStepSpans(actor.snapshot.context, entries, answer.ops, this.deps.now(), false);
        await driver.kick(actor);
      })
      .catch((e) => {
        inFlight.end(a.runId, a.key, a.token);
        this.deps.log.error(
          { err: e, runId: a.runId },
          "could not record the app's answer; retrying the run in 1 s",
        );
        driver.troubled(a.runId, "record", e);
        setTimeout(() => driver.kickLater(a.runId), 1000).unref();
      });
    return out;
  }
}

/**
 * An answer saying the app stopped because Jetstep refused its checkpoint as stale (409): never a
 * step's or the run's outcome, whichever executor refused it.
 */
function isStaleDispatch(answer: AppAnswer): boolean {
  return answer.kind === "error" && answer.error.name === STALE_DISPATCH_ERROR;
}
