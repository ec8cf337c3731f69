/**
 * The executor: holds partition leases, consumes their INBOX commands, keeps their timers, and
 * drives each run: fold the log (core), decide the next effect (core), perform it (call the app,
 * arm a timer), append the outcome. One writer per run: only the lease holder appends, and every
 * append carries the expected last subject sequence.
 *
 * This file composes its rooms: `PartitionOwner` (leases, consumers, takeover, reconcile),
 * `Inbox` (start, cancel and wait.match commands), `RunDriver` (what a run has due, its timers
 * firing, its end), `AppCalls` (calls and their answers), `RunWriter` (appends), `RunTimers`,
 * `RunEffects` (what a run implies outside its log) and `Checkpoints`.
 */

import { type CheckpointReply, type CheckpointRequest, Subjects } from "@jetstep/core";
import {
  ActiveStore,
  type BusSubscription,
  EventLog,
  FlowStore,
  type JetstepBuckets,
  MetadataStore,
  matcherAckFloor,
  type Nats,
  PausedFunctions,
  Publisher,
  publishCore,
  RollupLog,
  RunLog,
  SnapshotStore,
  subscribe,
  ThrottleQueue,
  TimerStore,
  WaitsStore,
} from "@jetstep/jetstream";
import { GaugeNames, type Logger, noMetrics, type RunMetrics } from "@jetstep/telemetry";
import { AppCalls } from "./app-calls.ts";
import { Checkpoints } from "./checkpoints.ts";
import { InFlightCalls } from "./in-flight.ts";
import { Inbox } from "./inbox.ts";
import { PartitionOwner } from "./partition-owner.ts";
import { Rollups } from "./rollups.ts";
import { DISCOVERY, RunDriver } from "./run-driver.ts";
import { RunEffects } from "./run-effects.ts";
import { recordStepSpans } from "./run-spans.ts";
import { RunStore } from "./run-store.ts";
import { RunTimers } from "./run-timers.ts";
import { RunTroubles } from "./run-troubles.ts";
import { RunWriter } from "./run-writer.ts";
import { ThrottleGate } from "./throttle-gate.ts";

export interface ExecutorConfig {
  /** Unique id of this executor process (lease owner). */
  owner: string;
  partitions: number;
  leaseTtlMs: number;
  callTimeoutMs: number;
  maxInFlightCalls: number;
  /** Fixed retry backoff (dev `--retry-interval`); the production schedule otherwise. */
  retryIntervalMs?: number;
  snapshotEvery: number;
  maxHotRuns: number;
  /** Signs calls to apps (production); unsigned dev-mode calls otherwise. */
  signingKey?: string;
  /** Hot runs above which parked runs are evicted from memory. */
  maxHotParked: number;
  /**
   * How often runs marked due in owned partitions are resumed if nothing is in flight for them: a
   * safety net, so a run whose wake-up was lost to an outage (a failed append, a lost ack) still
   * finishes. 0 turns it off.
   */
  reconcileMs: number;
  /**
   * A run the executor keeps failing to resume, to fire a timer of, or to record an answer of for
   * this long is logged and listed as `Stuck` (it is still retried).
   */
  stuckAfterMs: number;
  /** App URLs calls may go to (`--allow-app-url`); absent: any. */
  allowAppUrls?: string[];
  /**
   * On a graceful stop, how long calls already out may take to be answered and recorded before
   * the partitions are released anyway (their runs then call again under the next owner).
   */
  drainMs: number;
  /** How often what this executor counted of each function is appended to ROLLUPS (charts). */
  rollupFlushMs: number;
}

export const defaultExecutorConfig = (owner: string): ExecutorConfig => ({
  owner,
  partitions: 16,
  leaseTtlMs: 10_000,
  callTimeoutMs: 300_000,
  maxInFlightCalls: 256,
  snapshotEvery: 16,
  maxHotRuns: 50_000,
  maxHotParked: 5_000,
  reconcileMs: 30_000,
  stuckAfterMs: 60_000,
  drainMs: 10_000,
  rollupFlushMs: 10_000,
});

export interface ExecutorDeps {
  nats: Nats;
  buckets: JetstepBuckets;
  log: Logger;
  config: ExecutorConfig;
  now?: () => number;
  random?: () => number;
  /** Runs, step attempts, call failures, timer lateness and this executor's gauges. */
  metrics?: RunMetrics;
}

export interface Executor {
  start(): Promise<void>;
  /** Stops; with `release`, hands partitions over at once instead of letting leases expire. */
  stop(release?: boolean): Promise<void>;
  ownedPartitions(): number[];
  /**
   * Records a checkpoint of a run in partition `p` if this process owns `p` (as its
   * `jetstep.checkpoint.<p>` subscription would); undefined when it does not. Lets a gateway in
   * the same process skip the NATS round trip.
   */
  checkpointHere(p: number, req: CheckpointRequest): Promise<CheckpointReply> | undefined;
}

export function buildExecutor(deps: ExecutorDeps): Executor {
  return new ExecutorImpl(deps);
}

/** What the rooms share: the clock, the logger and the stores. */
interface Shared {
  log: Logger;
  now: () => number;
  metrics: RunMetrics;
  stopped: () => boolean;
  publisher: Publisher;
  runLog: RunLog;
  eventLog: EventLog;
  timerStore: TimerStore;
  runs: RunStore;
  /** ACTIVE (due and parked markers), WAITS, SNAPSHOTS and METADATA. */
  active: ActiveStore;
  waits: WaitsStore;
  snapshots: SnapshotStore;
  metadata: MetadataStore;
}

class ExecutorImpl implements Executor {
  private readonly publisher: Publisher;
  private readonly inFlight = new InFlightCalls();
  private readonly timers: RunTimers;
  private readonly writer: RunWriter;
  private readonly effects: RunEffects;
  private readonly throttleGate: ThrottleGate;
  private readonly owner: PartitionOwner;
  private readonly driver: RunDriver;
  private readonly calls: AppCalls;
  private readonly inbox: Inbox;
  private readonly checkpoints: Checkpoints;
  /** Changes of throttle queues (any executor's), so runs waiting here look at their queue's head. */
  private turns: BusSubscription | undefined;
  private dropGauges: (() => void) | undefined;
  private readonly rollups: Rollups;
  private readonly paused: PausedFunctions;
  private stopped = false;

  constructor(private readonly deps: ExecutorDeps) {
    const { nats, buckets, config } = deps;
    const now = deps.now ?? Date.now;
    const publisher = new Publisher(nats.nc);
    const runLog = new RunLog(nats.jsm, publisher);
    const snapshots = new SnapshotStore(buckets.snapshots);
    const log = deps.log.child({ svc: "executor", owner: config.owner });
    this.rollups = new Rollups({
      log,
      now,
      source: config.owner,
      store: new RollupLog(nats, publisher),
      flushMs: config.rollupFlushMs,
    });
    this.paused = new PausedFunctions(buckets.pauses, (message, err) => log.warn({ err }, message));
    const s: Shared = {
      log,
      now,
      metrics: this.rollups.counting(deps.metrics ?? noMetrics),
      stopped: () => this.stopped,
      publisher,
      runLog,
      eventLog: new EventLog(nats.jsm),
      timerStore: new TimerStore(nats.js, nats.jsm, publisher),
      runs: new RunStore(runLog, snapshots, config.maxHotRuns),
      active: new ActiveStore(buckets.active, nats, publisher),
      waits: new WaitsStore(buckets.waits, publisher),
      snapshots,
      metadata: new MetadataStore(buckets.metadata),
    };
    this.publisher = publisher;
    this.timers = new RunTimers(s.timerStore, now, (t) => {
      s.metrics.timerFired(now() - t.fireAt);
      this.driver.onTimer(t);
    });
    this.effects = new RunEffects({ nats, publisher, now, active: s.active, waits: s.waits });
    this.owner = this.partitionOwner(s);
    this.writer = new RunWriter({
      ...s,
      nats,
      snapshotEvery: config.snapshotEvery,
      keepsTrying: (p) => this.owner.owns(p) && !this.stopped,
    });
    this.throttleGate = this.throttle(s);
    this.driver = this.runDriver(s);
    this.calls = this.appCalls(s);
    this.inbox = new Inbox({
      ...s,
      activeRuns: s.active,
      writer: this.writer,
      effects: this.effects,
      timers: this.timers,
      active: (p) => this.owner.active(p),
      leaseValid: async (p) =>
        this.owner.valid(p) ||
        (await this.owner.whenValid(p, this.deps.config.leaseTtlMs, { whileOwned: true })),
      kick: (actor) => this.driver.kick(actor),
    });
    this.checkpoints = this.checkpointRoom(s);
  }

  private partitionOwner(s: Shared): PartitionOwner {
    return new PartitionOwner({
      ...s,
      nats: this.deps.nats,
      leases: this.deps.buckets.leases,
      config: this.deps.config,
      work: {
        onInbox: (p, m) => void this.inbox.onInbox(p, m),
        taken: (p) => {
          // Runs of `p` read while it was not ours (a call answered after the release, say) may be
          // behind what its other owner wrote meanwhile: read them again from their logs.
          s.runs.evictWhere((a) => a.snapshot.context.partition === p);
          this.checkpoints.take(p);
        },
        timersLoaded: (loaded) => this.timers.loaded(loaded),
        kickLater: (runId) => this.driver.kickLater(runId),
        callsOf: (runId) => this.inFlight.count(runId),
        settled: (p, withinMs) => this.inFlight.settled(p, withinMs),
        released: (p) => {
          this.checkpoints.drop(p);
          this.timers.dropPartition(p);
          // Calls in flight are kept: if this process takes the partition back (a lease renewal
          // came too late under load), their answers are recorded rather than the steps called
          // again; if another process takes it, their answers are dropped (not the owner).
          s.runs.evictWhere((a) => a.snapshot.context.partition === p);
        },
      },
    });
  }

  private throttle(s: Shared): ThrottleGate {
    const { nats, buckets } = this.deps;
    return new ThrottleGate({
      flow: new FlowStore(buckets.flow),
      queue: new ThrottleQueue(nats.jsm),
      now: s.now,
      notify: (token) => publishCore(nats, Subjects.throttleTurn(token)),
      gone: (queued) => this.driver.neverStarts(queued),
      arrived: async (eventSeq) => {
        return (await matcherAckFloor(nats)) >= eventSeq - 1;
      },
      onError: (err, message) => s.log.warn({ err }, message),
    });
  }

  private runDriver(s: Shared): RunDriver {
    return new RunDriver({
      ...s,
      random: this.deps.random ?? Math.random,
      config: this.deps.config,
      writer: this.writer,
      timers: this.timers,
      effects: this.effects,
      inFlight: this.inFlight,
      throttleGate: this.throttleGate,
      troubles: new RunTroubles(this.deps.config.stuckAfterMs, s.now),
      owns: (p) => this.owner.owns(p),
      perform: (runId, p, call, dispatch, token) => void this.calls.perform(runId, p, call, dispatch, token),
    });
  }

  private appCalls(s: Shared): AppCalls {
    const driver = this.driver;
    return new AppCalls({
      ...s,
      nats: this.deps.nats,
      config: this.deps.config,
      inFlight: this.inFlight,
      throttleGate: this.throttleGate,
      paused: this.paused,
      owner: this.owner,
      driver: {
        append: (actor, entries) => this.writer.append(actor, entries),
        kick: (actor) => driver.kick(actor),
        kickLater: (runId) => driver.kickLater(runId),
        decideOptions: (seq) => driver.decideOptions(seq),
        logOutcome: (actor, call, entries) => driver.logOutcome(actor, call, entries),
        recordOpMetadata: (runId, ops) => driver.recordOpMetadata(runId, ops),
        progressed: (actor, kind) => driver.progressed(actor, kind),
        troubled: (runId, kind, err) => driver.troubled(runId, kind, err),
      },
    });
  }

  private checkpointRoom(s: Shared): Checkpoints {
    const driver = this.driver;
    return new Checkpoints(this.deps.nats, s.log, {
      now: s.now,
      owns: (p) => this.owner.owns(p),
      valid: (p) => this.owner.valid(p),
      validForMs: (p) => this.owner.validForMs(p),
      withActor: (runId, fn) => s.runs.withActor(runId, fn),
      start: (p, cmd) => this.inbox.handle(p, cmd),
      eventsLastSeq: () => s.eventLog.lastSeq().catch(() => undefined),
      decideOptions: (seq) => driver.decideOptions(seq),
      record: async (actor, entries, steps) => {
        const ctx = actor.snapshot.context;
        driver.logOutcome(actor, { stepId: null, attempt: 0 }, entries);
        await this.writer.append(actor, entries);
        await driver.recordOpMetadata(ctx.runId, steps);
        recordStepSpans(ctx, entries, steps, s.now(), true);
      },
      kick: (actor) => driver.kick(actor),
      dispatchOf: (runId) => this.inFlight.dispatchOf(runId, DISCOVERY),
      endDispatch: (runId, dispatch) => this.inFlight.endDispatch(runId, DISCOVERY, dispatch),
      kickLater: (runId) => driver.kickLater(runId),
    });
  }

  ownedPartitions(): number[] {
    return this.owner.ownedPartitions();
  }

  checkpointHere(p: number, req: CheckpointRequest): Promise<CheckpointReply> | undefined {
    return this.stopped ? undefined : this.checkpoints.here(p, req);
  }

  async start(): Promise<void> {
    this.turns = subscribe(this.deps.nats, Subjects.allThrottleTurns, (m) =>
      this.throttleGate.changed(m.subject.split(".").at(-1) as string),
    );
    this.dropGauges = this.deps.metrics?.addGauges(() => [
      ...this.calls.concurrency(),
      { name: GaugeNames.timersPending, value: this.timers.size },
    ]);
    this.rollups.start(() => this.calls.backlog());
    await this.paused.start();
    await this.owner.start();
  }

  /**
   * Stops. With `release` (a graceful stop), first drains: no new command or call starts, calls
   * already out are answered and recorded (within `drainMs`, the leases renewed meanwhile), and
   * only then are the leases given up. A step the app ran is then never run again by the next
   * owner just because this process was shutting down. Without `release`, this is a crash: the
   * leases lapse and the next owner calls again what was unrecorded.
   */
  async stop(release = true): Promise<void> {
    if (release && !this.stopped) await this.owner.drain(this.deps.config.drainMs);
    this.stopped = true;
    this.dropGauges?.();
    this.timers.stop();
    this.turns?.unsubscribe();
    this.throttleGate.stop();
    this.paused.stop();
    this.checkpoints.dropAll();
    await this.owner.stop(release);
    // Counted up to here (a crash loses at most one flush interval of it).
    await this.rollups.stop(release);
    this.publisher.close();
  }
}

export { AppendConflictError, AppendFailedError } from "./append-errors.ts";
