/**
 * The executor: holds partition leases, consumes their INBOX commands, keeps their timers, and
 * drives each run: fold the log (core), decide the next effect (core), perform it (call the app,
 * arm a timer), append the outcome. One writer per run: only the lease holder appends, and every
 * append carries the expected last subject sequence.
 */

import { randomUUID } from "node:crypto";
import {
  type ActiveRun,
  type AppAnswer,
  type AppUrlPolicy,
  applyEntries,
  applyEntry,
  appUrlPolicy,
  Buckets,
  type CheckpointReply,
  type CheckpointRequest,
  Consumers,
  compensableSteps,
  type DecideOptions,
  type DueCall,
  decideAnswer,
  dispatchId,
  type InboxCommand,
  InboxCommandSchema,
  inBatch,
  isActive,
  Keys,
  type NewRunLogEntry,
  nextWork,
  type Op,
  OpCodes,
  openWaits,
  opMetadata,
  parseDuration,
  type RunContext,
  type RunIndexRecord,
  RunIndexRecordSchema,
  type RunLogEntry,
  STALE_DISPATCH_ERROR,
  type StartRunCommand,
  Streams,
  Subjects,
  statusOf,
  THROTTLE_TIMER,
  type ThrottleSpec,
  TIMEOUT_FINISH,
  TIMEOUT_START,
  type WaitMatchCommand,
} from "@jetstep/core";
import {
  EventLog,
  InProgress,
  inboxConsumer,
  inboxConsumerState,
  type JetstepBuckets,
  type JsMsg,
  kvDelete,
  kvPut,
  listKvKeys,
  Membership,
  type Nats,
  PartitionLeases,
  PULL_EXPIRES_MS,
  Publisher,
  type PublishResult,
  partitionCount,
  type QueuedRun,
  ReadPath,
  RunLog,
  readRun,
  type Subscription,
  scanKvKeys,
  settleFailure,
  ThrottleQueue,
  TimerStore,
  updateRunMetadata,
  withTimeout,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";

type RunScheduledEntry = Extract<RunLogEntry, { type: "run.scheduled" }>;

import { callApp, FencedCallError } from "./app-client.ts";
import { AppendConflictError, AppendFailedError } from "./append-errors.ts";
import { Checkpoints } from "./checkpoints.ts";
import { ConcurrencyGate } from "./concurrency-gate.ts";
import { InFlightCalls } from "./in-flight.ts";
import { chunkEntries, fitEntry, HEADER_ROOM } from "./log-chunks.ts";
import { RunEffects } from "./run-effects.ts";
import { AttemptSpan, recordParkedStep, recordRun, recordStepSpans, traceIdOf } from "./run-spans.ts";
import { type Actor, RunStore } from "./run-store.ts";
import { RunTroubles, type StuckRun, type TroubleKind } from "./run-troubles.ts";
import { Semaphore } from "./semaphore.ts";
import { ThrottleGate } from "./throttle-gate.ts";
import { type HeapTimer, TimerHeap } from "./timer-heap.ts";

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
});

export interface ExecutorDeps {
  nats: Nats;
  buckets: JetstepBuckets;
  log: Logger;
  config: ExecutorConfig;
  now?: () => number;
  random?: () => number;
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

/** Longest wait for a partition's INBOX consumer to be made and consuming; the load is retried. */
const CONSUMER_TIMEOUT_MS = 30_000;
/** How soon a run whose call was held back by the lease fence is tried again. */
const FENCE_RETRY_MS = 250;
/** A run queued for its throttled start this long ago that still has no log never got its start. */
const NEVER_STARTED_MS = 10 * 60_000;
/** How long an append that RUNS refuses for now (no leader) is retried before the run is reloaded. */
const APPEND_RETRY_MS = 30_000;
/** A partition owned without a consumer for this long (a load that never settled) is reloaded. */
const UNCONSUMED_RELOAD_MS = 2 * CONSUMER_TIMEOUT_MS;

const DISCOVERY = "$discovery";
/** INBOX commands handled at once by one executor. */
const INBOX_CONCURRENCY = 256;

const callKey = (c: DueCall): string => (c.compensate ? `$compensate:${c.stepId}` : (c.stepId ?? DISCOVERY));

export function buildExecutor(deps: ExecutorDeps): Executor {
  return new ExecutorImpl(deps);
}

class ExecutorImpl implements Executor {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly publisher: Publisher;
  private readonly runLog: RunLog;
  private readonly timers: TimerStore;
  private readonly eventLog: EventLog;
  private readonly runs: RunStore;
  private readonly heap: TimerHeap;
  private readonly calls: Semaphore;
  /**
   * Resumes under way at most (a takeover or reconcile pass may resume thousands: all at once, their
   * reads and writes timed out together and every one was retried).
   */
  private readonly resumes = new Semaphore(64);
  /**
   * INBOX commands handled at once, over all partitions (each partition's consumer delivers up to
   * 512): a fan-out's thousands of starts otherwise wrote their bookkeeping all at once.
   */
  private readonly inboxSlots = new Semaphore(INBOX_CONCURRENCY);
  /** INBOX commands being handled (kept from redelivery while slow). */
  private readonly inProgress = new InProgress();
  private readonly gate = new ConcurrencyGate();
  private readonly throttleGate: ThrottleGate;
  /** Changes of throttle queues (any executor's), so runs waiting here look at their queue's head. */
  private turns: Subscription | undefined;
  private readonly appUrls: AppUrlPolicy;
  private leases!: PartitionLeases;
  private membership!: Membership;
  private partitions = 0;
  private readonly inFlight = new InFlightCalls();
  /** Partitions being handed to another executor: their calls finish, no new ones start. */
  private readonly handingOver = new Set<number>();
  /** Per owned partition, the subscription that takes its runs' checkpoints. */
  private readonly checkpoints: Checkpoints;
  private readonly consumers = new Map<number, { close(): Promise<unknown> }>();
  private readonly timerSeqs = new Map<string, number>();
  /** wait.match commands waiting for their run's next batch (matchWait). */
  private readonly pendingMatches = new Map<
    string,
    { cmd: WaitMatchCommand; resolve(): void; reject(e: unknown): void }[]
  >();
  /** What runs imply outside their logs: markers, index records, waits, invokes, lifecycle events. */
  private readonly effects: RunEffects;
  private stopped = false;
  private reconciler: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  /** The current load of each partition (`acquire`), so a superseded load installs nothing. */
  private readonly loads = new Map<number, { token: number; startedAt: number }>();
  private loadSeq = 0;
  /** Timers and due runs are read with an ordered consumer, or scanned when consumers fail. */
  private readonly reads = new ReadPath();
  /** Each partition consumer's state at the last reconcile pass (to see it make no progress). */
  private readonly consumerStates = new Map<number, Awaited<ReturnType<typeof inboxConsumerState>>>();
  /** Runs failing to move on (`stuckAfterMs`). */
  private readonly troubles: RunTroubles;
  /** Runs with a resume retry scheduled (`kickLater`): a reconcile pass does not start another. */
  private readonly resumeRetries = new Set<string>();

  constructor(private readonly deps: ExecutorDeps) {
    this.log = deps.log.child({ svc: "executor", owner: deps.config.owner });
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.publisher = new Publisher(deps.nats.nc);
    this.runLog = new RunLog(deps.nats.jsm, this.publisher);
    this.timers = new TimerStore(deps.nats.js, deps.nats.jsm, this.publisher);
    this.eventLog = new EventLog(deps.nats.jsm);
    this.runs = new RunStore(this.runLog, deps.buckets.snapshots, deps.config.maxHotRuns);
    this.heap = new TimerHeap(this.now, (t) => this.onTimer(t));
    this.effects = new RunEffects({ nats: deps.nats, publisher: this.publisher, now: this.now });
    this.checkpoints = new Checkpoints(deps.nats.nc, this.log, {
      now: this.now,
      owns: (p) => this.leases.owns(p),
      valid: (p) => this.leases.valid(p),
      withActor: (runId, fn) => this.runs.withActor(runId, fn),
      start: (p, cmd) => this.handle(p, cmd),
      eventsLastSeq: () => this.eventLog.lastSeq().catch(() => undefined),
      decideOptions: (eventsLastSeq) => this.decideOptions(eventsLastSeq),
      record: async (actor, entries, steps) => {
        const ctx = actor.snapshot.context;
        this.logOutcome(actor, { stepId: null, attempt: 0 }, entries);
        await this.append(actor, entries);
        await this.recordOpMetadata(ctx.runId, steps);
        recordStepSpans(ctx, entries, steps, this.now(), true);
      },
      kick: (actor) => this.kick(actor),
      dispatchOf: (runId) => this.inFlight.dispatchOf(runId, DISCOVERY),
      endDispatch: (runId, dispatch) => this.inFlight.endDispatch(runId, DISCOVERY, dispatch),
      kickLater: (runId) => this.kickLater(runId),
    });
    this.calls = new Semaphore(deps.config.maxInFlightCalls);
    this.troubles = new RunTroubles(deps.config.stuckAfterMs, this.now);
    this.throttleGate = new ThrottleGate({
      kv: deps.buckets.flow,
      queue: new ThrottleQueue(deps.nats.jsm),
      now: this.now,
      notify: (token) => deps.nats.nc.publish(Subjects.throttleTurn(token)),
      gone: (queued) => this.neverStarts(queued),
      arrived: async (eventSeq) => {
        const info = await deps.nats.jsm.consumers.info(Streams.events, Consumers.matcher);
        return info.ack_floor.stream_seq >= eventSeq - 1;
      },
      onError: (err, message) => this.log.warn({ err }, message),
    });
    this.appUrls = appUrlPolicy(deps.config.allowAppUrls);
  }

  ownedPartitions(): number[] {
    return this.leases?.ownedPartitions() ?? [];
  }

  checkpointHere(p: number, req: CheckpointRequest): Promise<CheckpointReply> | undefined {
    return this.stopped ? undefined : this.checkpoints.here(p, req);
  }

  async start(): Promise<void> {
    const cfg = this.deps.config;
    this.partitions = await partitionCount(this.deps.buckets.leases, cfg.partitions);
    this.leases = new PartitionLeases(
      this.deps.buckets.leases,
      this.deps.nats.js,
      {
        owner: cfg.owner,
        partitions: this.partitions,
        ttlMs: cfg.leaseTtlMs,
        onError: (e) =>
          this.log.error(
            { err: e },
            (e as Error).name === "PartitionLoadError" ? (e as Error).message : "lease tick failed",
          ),
        // A fair share, so several executors split the partitions.
        maxOwned: () => Math.ceil(this.partitions / this.membership.count()),
      },
      {
        acquired: (p) => this.acquire(p),
        lost: (p) => this.release(p),
        handingOver: (p, withinMs) => this.handOver(p, withinMs),
      },
    );
    this.turns = this.deps.nats.nc.subscribe(Subjects.allThrottleTurns, {
      callback: (_err, m) => this.throttleGate.changed(m.subject.split(".").at(-1) as string),
    });
    this.membership = new Membership(this.deps.nats.js, this.deps.nats.jsm, cfg.owner, cfg.leaseTtlMs);
    await this.membership.start();
    await this.leases.start();
    if (cfg.reconcileMs > 0) {
      this.reconciler = setInterval(() => void this.reconcile(), cfg.reconcileMs);
      this.reconciler.unref();
    }
    this.log.info(
      { partitions: this.partitions, owned: this.leases.ownedPartitions().length },
      "executor started",
    );
  }

  /**
   * Stops. With `release` (a graceful stop), first drains: no new command or call starts, calls
   * already out are answered and recorded (within `drainMs`, the leases renewed meanwhile), and
   * only then are the leases given up. A step the app ran is then never run again by the next
   * owner just because this process was shutting down. Without `release`, this is a crash: the
   * leases lapse and the next owner calls again what was unrecorded.
   */
  async stop(release = true): Promise<void> {
    if (this.reconciler) clearInterval(this.reconciler);
    if (release && this.leases && !this.stopped) {
      const drainMs = this.deps.config.drainMs;
      await Promise.all(this.leases.ownedPartitions().map((p) => this.handOver(p, drainMs)));
    }
    this.stopped = true;
    this.heap.stop();
    this.turns?.unsubscribe();
    this.throttleGate.stop();
    this.checkpoints.dropAll();
    await this.membership?.stop();
    await this.leases?.stop(release);
    this.publisher.close();
  }

  // ---- partitions ----

  /**
   * Takes over partition `p`: first its INBOX consumer (the commands that move runs), then, in the
   * background, its timers and due runs (`catchUp`). A catch-up that fails is retried without
   * holding up the partition's commands: in a degraded cluster, reading timers or listing keys can
   * fail for minutes while the INBOX consumer works.
   */
  private async acquire(p: number): Promise<void> {
    const log = this.log.child({ partition: p });
    // A load superseded by a release (and maybe a newer load) must not install anything.
    const token = ++this.loadSeq;
    this.loads.set(p, { token, startedAt: this.now() });
    const current = () => this.loads.get(p)?.token === token && this.leases.owns(p) && !this.stopped;
    this.checkpoints.take(p);
    const messages = await withTimeout(
      inboxConsumer(this.deps.nats.js, this.deps.nats.jsm, p).then((c) =>
        c.consume({ max_messages: 512, expires: PULL_EXPIRES_MS }),
      ),
      CONSUMER_TIMEOUT_MS,
      `consuming the inbox of partition ${p}`,
      (late) => late.close(),
    );
    if (!current()) {
      await messages.close().catch(() => undefined);
      return;
    }
    this.consumers.set(p, messages);
    void (async () => {
      for await (const s of messages.status()) {
        if (s.type === "heartbeats_missed") log.warn({ missed: s.count }, "inbox consumer missed heartbeats");
        // Gone (deleted by an operator, or lost with a node): stop; the partition is reloaded and
        // its consumer made again.
        if (s.type === "consumer_deleted" || s.type === "consumer_not_found") {
          log.warn({ status: s.type }, "inbox consumer is gone");
          await messages.close();
        }
      }
    })().catch(() => undefined);
    void (async () => {
      for await (const m of messages) void this.onInbox(p, m);
    })()
      .catch((e) => log.error({ err: e }, "inbox consumer failed"))
      .finally(() => {
        // The consumer stopped by itself (not released by us): nothing would read this partition's
        // commands any more. Reload it: the next lease tick creates a new consumer.
        if (this.consumers.get(p) !== messages || this.stopped) return;
        this.consumers.delete(p);
        log.warn("inbox consumer stopped; reloading the partition");
        void this.leases.reload(p).catch((e) => log.error({ err: e }, "partition reload failed"));
      });
    void this.catchUp(p, current, log);
  }

  /**
   * Loads partition `p`'s timers into the heap and resumes its due runs, retrying with backoff
   * (up to 30 s apart) until done or the partition is no longer this load's.
   */
  private async catchUp(p: number, current: () => boolean, log: Logger): Promise<void> {
    const started = this.now();
    let timers: number | undefined;
    for (let attempt = 0; current(); attempt++) {
      try {
        if (timers === undefined) {
          const loaded = await this.reads.read(
            () => this.timers.load(p),
            () => this.timers.scan(p),
            (e) => log.warn({ err: e }, "could not read timers with a consumer; scanning for 5 min"),
          );
          if (!current()) return;
          for (const t of loaded) {
            this.timerSeqs.set(TimerHeap.key(t.runId, t.timerId), t.seq);
            this.heap.add({ runId: t.runId, timerId: t.timerId, partition: p, fireAt: t.fireAt, seq: t.seq });
          }
          timers = loaded.length;
        }
        const due = await this.dueRuns(p);
        if (!current()) return;
        for (const runId of due) this.kickLater(runId);
        log.debug({ timers, active: due.length, ms: this.now() - started }, "partition acquired");
        return;
      } catch (e) {
        const delayMs = Math.min(30_000, 1000 * 2 ** attempt);
        log.warn(
          { err: e, retryInMs: delayMs },
          "could not load the partition's timers or due runs; retrying",
        );
        await new Promise((r) => setTimeout(r, delayMs).unref());
      }
    }
  }

  /**
   * Before partition `p` goes to another executor: no new calls or commands, and the calls out
   * finish and are recorded (for at most `withinMs`), so the next owner never calls next to them.
   */
  private async handOver(p: number, withinMs: number): Promise<void> {
    this.handingOver.add(p);
    const c = this.consumers.get(p);
    this.consumers.delete(p);
    await c?.close().catch(() => undefined);
    if (!(await this.inFlight.settled(p, withinMs)))
      this.log.warn({ partition: p, withinMs }, "handing the partition over with calls still out");
  }

  private async release(p: number): Promise<void> {
    this.handingOver.delete(p);
    this.loads.delete(p);
    this.checkpoints.drop(p);
    const c = this.consumers.get(p);
    this.consumers.delete(p);
    await c?.close().catch(() => undefined);
    this.heap.dropPartition(p);
    // Calls in flight are kept: if this process takes the partition back (a lease renewal came
    // too late under load), their answers are recorded rather than the steps called again; if
    // another process takes it, their answers are dropped (not the owner) when they come.
    this.runs.evictWhere((a) => a.snapshot.context.partition === p);
    this.log.warn({ partition: p }, "partition released");
  }

  // ---- commands ----

  private async onInbox(p: number, m: JsMsg): Promise<void> {
    let cmd: InboxCommand;
    try {
      const parsed = InboxCommandSchema.safeParse(m.json());
      if (!parsed.success) throw new Error(parsed.error.message);
      cmd = parsed.data;
    } catch (e) {
      this.log.error({ err: e, partition: p, seq: m.seq }, "dropping malformed inbox command");
      m.term();
      return;
    }
    try {
      // While it waits for a slot or is handled, the command is kept from redelivery.
      this.inProgress.hold(m);
      try {
        const handled = await this.inboxSlots.run(async () => {
          // Delivered before the partition was given up: its new owner handles it (a command
          // handled here now would act on runs this process no longer drives).
          if (!this.leases.owns(p) || this.handingOver.has(p)) return false;
          await this.handle(p, cmd);
          return true;
        });
        if (!handled) {
          m.nak();
          return;
        }
      } finally {
        this.inProgress.release(m);
      }
      m.ack();
    } catch (e) {
      // A poison command (failing the same way every time) is parked in DEAD_LETTERS after a few
      // deliveries, so it never holds up the partition's commands behind it.
      const done = await settleFailure(this.publisher, "executor", m, e, this.maxMessageBytes());
      if ("deadLettered" in done)
        this.log.error({ err: e, runId: cmd.runId }, "inbox command keeps failing; stored in DEAD_LETTERS");
      else this.log.error({ err: e, runId: cmd.runId, ...done }, "inbox command failed; will be redelivered");
    }
  }

  private handle(p: number, cmd: InboxCommand): Promise<void> {
    switch (cmd.type) {
      case "start":
        // A new run is not read back from its (empty) log. Its first append expects the log to
        // be empty: when the run existed after all (a start delivered again), that append
        // conflicts and the start goes on with the run as its log has it.
        return this.runs
          .withActor(cmd.runId, (actor) => this.startRun(p, cmd, actor), { assumeNew: true })
          .catch((e) => {
            if (!(e instanceof AppendConflictError)) throw e;
            return this.runs.withActor(cmd.runId, (actor) => this.startRun(p, cmd, actor));
          });
      case "cancel":
        return this.runs.withActor(cmd.runId, async (actor) => {
          if (statusOf(actor.snapshot) !== "running") return; // ended, or already compensating
          const ctx = actor.snapshot.context;
          const steps = ctx.compensateOnCancel ? compensableSteps(ctx) : [];
          await this.append(actor, [
            steps.length > 0
              ? {
                  type: "compensation.started",
                  ts: this.now(),
                  reason: "cancelled",
                  cancelReason: cmd.reason,
                  steps,
                }
              : { type: "run.cancelled", ts: this.now(), reason: cmd.reason },
          ]);
          this.log.info(
            { runId: cmd.runId, fnId: actor.snapshot.context.fnId, reason: cmd.reason },
            "run cancelled",
          );
          await this.kick(actor);
        });
      case "wait.match":
        return this.matchWait(cmd);
      default: {
        const _exhaustive: never = cmd;
        return _exhaustive;
      }
    }
  }

  /** Creates the run (`run.scheduled`) unless its log already has it, and sets it going. */
  private async startRun(p: number, cmd: StartRunCommand, actor: Actor): Promise<void> {
    let indexed: Promise<void> | undefined;
    if (statusOf(actor.snapshot) === "empty") {
      const active: ActiveRun = { fnId: cmd.fnId, createdAt: this.now() };
      // The due marker and the run's first entry are written together. If the marker fails, the
      // start is redelivered and the run's first kick writes it (a rebuilt or unmarked actor has
      // `parked` unset); `parked` says "marked" only once it is.
      const marked = kvPut(
        this.publisher,
        Buckets.active,
        Keys.active(p, cmd.runId),
        JSON.stringify(active),
      ).then(() => {
        actor.parked = false;
      });
      const appended = this.append(actor, [
        {
          type: "run.scheduled",
          ts: this.now(),
          runId: cmd.runId,
          fnId: cmd.fnId,
          appId: cmd.appId,
          url: cmd.url,
          maxAttempts: cmd.maxAttempts,
          partition: p,
          event: cmd.event,
          events: cmd.events,
          ...(cmd.eventSeq !== undefined ? { eventSeq: cmd.eventSeq } : {}),
          ...(cmd.cancelOn ? { cancelOn: cmd.cancelOn } : {}),
          ...(cmd.compensateOnCancel ? { compensateOnCancel: true } : {}),
          ...(cmd.concurrency?.length ? { concurrency: cmd.concurrency } : {}),
          ...(cmd.startAt !== undefined ? { startAt: cmd.startAt } : {}),
          ...(cmd.throttle ? { throttle: cmd.throttle } : {}),
          ...(cmd.priority ? { priority: cmd.priority } : {}),
          ...(cmd.traceparent ? { traceparent: cmd.traceparent } : {}),
          ...(cmd.endpoint ? { endpoint: cmd.endpoint } : {}),
          ...deadlinesOf(cmd, this.now()),
        },
        // A rerun from a step starts with the earlier steps' results already recorded.
        ...(cmd.seed ?? []).map(
          (step): NewRunLogEntry => ({
            type: "step.completed",
            ts: this.now(),
            stepId: step.stepId,
            name: step.name,
            data: step.data ?? null,
            attempt: 0,
            startedAt: this.now(),
          }),
        ),
      ]);
      const [, ok] = await Promise.all([marked, appended]);
      if (ok) {
        this.log.info(
          {
            runId: cmd.runId,
            fnId: cmd.fnId,
            eventId: cmd.event.id,
            traceId: traceIdOf(actor.snapshot.context),
          },
          "run scheduled",
        );
        // Not fatal: the run is indexed again when it ends. Written while the run goes on (its
        // first call need not wait for it): index records of a run are published in order on one
        // connection, so this one always lands before the one its end writes.
        indexed = this.effects
          .indexRun(actor)
          .catch((e) => this.log.warn({ err: e, runId: cmd.runId }, "could not index the new run"));
      }
    }
    await this.kick(actor);
    await indexed;
  }

  /**
   * Applies matched waits. Matches for one run that arrive while it is busy are applied together,
   * in one append and one kick: a parent whose 10,000 invoked children finish at once records
   * their results in a few messages, not 10,000.
   */
  private matchWait(cmd: WaitMatchCommand): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting = this.pendingMatches.get(cmd.runId);
      if (waiting) {
        waiting.push({ cmd, resolve, reject });
        return;
      }
      this.pendingMatches.set(cmd.runId, [{ cmd, resolve, reject }]);
      const batch = () => {
        const taken = this.pendingMatches.get(cmd.runId) ?? [];
        this.pendingMatches.delete(cmd.runId);
        return taken;
      };
      let taken: { cmd: WaitMatchCommand; resolve(): void; reject(e: unknown): void }[] = [];
      this.runs
        .withActor(cmd.runId, async (actor) => {
          taken = batch();
          if (statusOf(actor.snapshot) !== "running") return;
          const steps = actor.snapshot.context.steps;
          const entries: NewRunLogEntry[] = [];
          const timers: string[] = [];
          const seen = new Set<string>();
          for (const { cmd: m } of taken) {
            const step = steps[m.waitId];
            // First match wins; a wait already resolved (or timed out) ignores the rest.
            if (step?.status !== "waiting" || seen.has(m.waitId)) continue;
            seen.add(m.waitId);
            entries.push({ type: "wait.matched", ts: this.now(), stepId: m.waitId, event: m.event });
            if (step.timerId) timers.push(step.timerId);
          }
          if (entries.length === 0) return;
          await this.append(actor, entries);
          await Promise.all(timers.map((t) => this.dropTimer(cmd.runId, t)));
          await this.kick(actor);
        })
        .then(
          () => {
            for (const t of taken) t.resolve();
          },
          (e) => {
            // Not applied: every command of the batch is delivered again.
            for (const t of taken.length > 0 ? taken : batch()) t.reject(e);
          },
        );
    });
  }

  private onTimer(t: HeapTimer): void {
    if (!this.leases.owns(t.partition)) return;
    void this.runs
      .withActor(t.runId, async (actor) => {
        const pending = nextWork(actor.snapshot).timers.some((x) => x.timerId === t.timerId);
        if (pending && isActive(statusOf(actor.snapshot))) {
          await this.append(actor, [{ type: "timer.fired", ts: this.now(), timerId: t.timerId }]);
        }
        // Kick (which marks the run due again) before deleting the timer: a crash in between
        // leaves either the timer or the due marker, never neither.
        await this.kick(actor);
        this.timerSeqs.delete(t.key);
        await this.timers.remove(t.seq);
        this.progressed(actor, "timer");
      })
      .catch((e) => {
        this.log.error(
          { err: e, runId: t.runId, timerId: t.timerId },
          "timer handling failed; retrying in 1 s",
        );
        this.troubled(t.runId, "timer", e);
        setTimeout(() => this.heap.add({ ...t, fireAt: this.now() }), 1000).unref();
      });
  }

  /**
   * Run ids marked due in partition `p` (ACTIVE `p<n>.<runId>`), listed with an ordered consumer,
   * or scanned without one when consumers fail (this runs on every reconcile pass, and must work
   * while a node is down).
   */
  private async dueRuns(p: number): Promise<string[]> {
    const filter = Keys.activeInPartition(p);
    const keys = await this.reads.read(
      () => listKvKeys(this.deps.buckets.active, filter),
      async () => {
        const out: string[] = [];
        for await (const key of scanKvKeys(this.deps.nats.jsm, Buckets.active, filter)) out.push(key);
        return out;
      },
      (e) =>
        this.log.warn(
          { err: e, partition: p },
          "could not list due runs with a consumer; scanning for 5 min",
        ),
    );
    return keys.map((key) => key.slice(key.indexOf(".") + 1));
  }

  /**
   * Resumes due runs of owned partitions that have nothing in flight (see `reconcileMs`). A pass
   * still going when the next is due (listings slowed by an outage) skips that one: overlapping
   * passes would compare consumer states taken moments apart and see stalls that are not.
   */
  private reconcile(): Promise<void> {
    this.reconciling ??= this.reconcilePass().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  private async reconcilePass(): Promise<void> {
    for (const p of this.leases.ownedPartitions()) {
      if (this.stopped) return;
      if (!this.leases.owns(p)) continue; // released meanwhile
      // Owned, yet no consumer long after its load began: the load never settled. Reload.
      const load = this.loads.get(p);
      if (!this.consumers.has(p) && (!load || this.now() - load.startedAt > UNCONSUMED_RELOAD_MS)) {
        this.log.warn({ partition: p }, "partition owned without an inbox consumer; reloading");
        await this.leases.reload(p);
        continue;
      }
      await this.checkConsumer(p);
      try {
        for (const runId of await this.dueRuns(p))
          if (this.inFlight.count(runId) === 0) this.kickLater(runId);
      } catch (e) {
        this.log.warn({ err: e, partition: p }, "reconcile could not list due runs");
      }
    }
  }

  /**
   * A partition's consumer is stalled when, from one reconcile pass to the next, it holds
   * undelivered commands, has no pull waiting, and delivered and acked nothing (seen after a
   * consumer leader change on nats-server 2.9, and still on 2.15.2: the client's pull was lost, with
   * a few deliveries left unacked). Closing it reloads the partition with a new one.
   */
  private async checkConsumer(p: number): Promise<void> {
    const messages = this.consumers.get(p);
    if (!messages) return;
    try {
      const now = await inboxConsumerState(this.deps.nats.jsm, p);
      const before = this.consumerStates.get(p);
      this.consumerStates.set(p, now);
      const stalled =
        before !== undefined &&
        now.pending > 0 &&
        now.waiting === 0 &&
        now.delivered === before.delivered &&
        now.acked === before.acked;
      if (stalled && this.consumers.get(p) === messages) {
        this.consumerStates.delete(p);
        this.log.warn(
          { partition: p, ...now },
          "inbox consumer stalled (commands pending, no pull); reloading",
        );
        await messages.close();
      }
    } catch (e) {
      this.log.warn({ err: e, partition: p }, "could not check the inbox consumer");
    }
  }

  /**
   * Resumes a run of an owned partition. If that fails (its log cannot be read while a stream
   * elects a leader, say), it is tried again with backoff: nothing else would wake the run until
   * its partition changes hands.
   */
  private kickLater(runId: string, attempt = 0): void {
    // One retry chain per run: reconcile passes find a failing run due again and again.
    if (attempt === 0 && this.resumeRetries.has(runId)) return;
    void this.resumes
      .run(() =>
        this.runs.withActor(runId, async (a) => {
          this.resumeRetries.delete(runId);
          if (!this.leases.owns(a.snapshot.context.partition)) {
            this.troubles.forget(runId);
            return;
          }
          await this.kick(a);
          this.progressed(a, "resume");
        }),
      )
      .catch((e) => {
        if (this.stopped) return;
        const delayMs = Math.min(30_000, 1000 * 2 ** attempt);
        this.log.error({ err: e, runId, retryInMs: delayMs }, "could not resume run; retrying");
        this.resumeRetries.add(runId);
        this.troubled(runId, "resume", e);
        setTimeout(() => this.kickLater(runId, attempt + 1), delayMs).unref();
      });
  }

  /**
   * Notes a failure to move the run on. Once it has failed for `stuckAfterMs`, it is logged with
   * the reason and listed as `Stuck` (`GET /v1/runs?status=Stuck`); retries go on.
   */
  private troubled(runId: string, kind: TroubleKind, err: unknown): void {
    const stuck = this.troubles.failed(runId, kind, (err as Error)?.message ?? String(err));
    if (!stuck) return;
    this.log.error(
      { runId, reason: stuck.reason, failures: stuck.failures, failingForMs: this.now() - stuck.since },
      "run is stuck: the executor keeps failing to move it on (still retrying)",
    );
    void this.indexStuck(stuck).catch((e) =>
      this.log.warn({ err: e, runId }, "could not list the run as stuck"),
    );
  }

  /** Notes that `kind` worked for the run; a run listed as stuck is listed as running again. */
  private progressed(actor: Actor, kind: TroubleKind): void {
    if (this.troubles.size === 0 || !this.troubles.cleared(actor.runId, kind)) return;
    this.log.info({ runId: actor.runId }, "run is no longer stuck");
    if (isActive(statusOf(actor.snapshot)))
      void this.effects
        .indexRun(actor, `unstuck-${this.now()}`)
        .catch((e) =>
          this.log.warn({ err: e, runId: actor.runId }, "could not list the run as running again"),
        );
  }

  /**
   * Lists a stuck run as `Stuck` in RUN_INDEX: its record there (written when it started) with the
   * reason, the time it began failing and its log's last sequence, so the listing can tell when
   * another executor moved it on since.
   */
  private async indexStuck(stuck: StuckRun): Promise<void> {
    const subject = Subjects.runIndex(stuck.runId);
    const [current, logSeq] = await Promise.all([
      this.deps.nats.jsm.direct
        .getMessage(Streams.runIndex, { last_by_subj: subject })
        .then((m) => (m ? RunIndexRecordSchema.safeParse(m.json()) : undefined))
        .catch(() => undefined),
      this.runLog.lastSeq(stuck.runId).catch(() => undefined),
    ]);
    const base: RunIndexRecord = current?.success
      ? current.data
      : { runId: stuck.runId, fnId: "", appId: "", startedAt: stuck.since, status: "Running" };
    const record: RunIndexRecord = {
      ...base,
      status: "Stuck",
      stuck: { reason: stuck.reason, since: stuck.since, ...(logSeq !== undefined ? { logSeq } : {}) },
    };
    const r = await this.publisher.publish(subject, JSON.stringify(record));
    if (!r.ok) throw new Error(r.description);
  }

  // ---- the run loop ----

  /** Performs what the run's state says is due: arm missing timers, start calls not in flight. */
  private async kick(actor: Actor): Promise<void> {
    const ctx = actor.snapshot.context;
    const status = statusOf(actor.snapshot);
    if (!isActive(status)) {
      if (status !== "empty") await this.finish(actor);
      return;
    }
    const work = nextWork(actor.snapshot);
    // Written together (pipelined), not one round trip after another: a fan-out arms thousands.
    await Promise.all(
      work.timers.map(async (t) => {
        if (this.heap.has(ctx.runId, t.timerId)) return;
        const stored = await this.timers.arm({
          runId: ctx.runId,
          timerId: t.timerId,
          partition: ctx.partition,
          fireAt: t.fireAt,
        });
        this.timerSeqs.set(TimerHeap.key(ctx.runId, t.timerId), stored.seq);
        this.heap.add({
          runId: ctx.runId,
          timerId: t.timerId,
          partition: ctx.partition,
          fireAt: t.fireAt,
          seq: stored.seq,
        });
      }),
    );
    await this.effects.syncWaits(ctx, work.waits);
    await this.effects.sendInvokes(ctx);
    await this.effects.markParked(actor, work.calls.length === 0);
    // Parked runs wake only by a timer or a wait; beyond a few thousand, keep them out of memory
    // (a snapshot makes the later rebuild a KV get plus a short tail).
    // A run whose state is too large for a snapshot stays: rebuilding it would replay its whole log
    // (a fan-out parent waiting on 10,000 invokes was evicted and reloaded at every match).
    if (actor.parked && this.runs.hotCount > this.deps.config.maxHotParked) {
      if (await this.runs.saveSnapshot(actor, this.maxMessageBytes())) this.runs.evict(ctx.runId);
    }
    if (work.calls.length > 0 && !actor.claimed) await this.claim(actor);
    for (const call of work.calls) {
      const key = callKey(call);
      if (this.inFlight.has(ctx.runId, key)) continue;
      // A discovery call may run many steps, reporting each by checkpoint under this id.
      const dispatch = key === DISCOVERY ? dispatchId(ctx.partition, randomUUID().replaceAll("-", "")) : "";
      const token = this.inFlight.add(ctx.runId, ctx.partition, key, dispatch);
      void this.perform(actor.runId, ctx.partition, call, dispatch, token);
    }
  }

  private async perform(
    runId: string,
    partition: number,
    call: DueCall,
    dispatch: string,
    token: number,
  ): Promise<void> {
    let startedAt = this.now();
    let answer: AppAnswer;
    let span: AttemptSpan | undefined;
    let answeredAt = startedAt;
    // Re-read the state at call time: the memo must include everything appended so far.
    const currentContext = async (): Promise<RunContext> => {
      let ctx: RunContext | undefined;
      await this.runs.withActor(runId, async (a) => {
        ctx = a.snapshot.context;
      });
      return ctx as RunContext;
    };
    // Fencing: the call goes out only while this executor's lease on the partition is valid (and
    // the call is still wanted), checked again when the request gets its connection. An owner
    // that was paused or starved past its lease must not call a step the next owner recorded.
    const key = callKey(call);
    const fence = () =>
      this.leases.valid(partition) &&
      !this.handingOver.has(partition) &&
      this.inFlight.holds(runId, key, token);
    let fenced = false;
    let sent = false;
    let runThrottled = false;
    /** The throttle whose queue this call's run waits in (it leaves once the answer is recorded). */
    let inQueue: ThrottleSpec | undefined;
    try {
      const runCtx = await currentContext();
      // A throttled run's first call goes out only at the head of its key's queue (arrival order)
      // and when a start is due at that moment (a start delayed by load must not let this one
      // come early); compensations are not starts. It waits for its turn holding nothing.
      const throttle = !runCtx.started && !call.compensate ? runCtx.throttle : undefined;
      runThrottled = throttle !== undefined;
      const takesStart = throttle ? await this.throttleGate.turn(throttle, runId) : false;
      if (takesStart && throttle?.queued) inQueue = throttle;
      // Then for the run's concurrency slots, so waiting runs hold no call slot.
      const release = await this.gate.acquire(
        runCtx.concurrency ?? [],
        this.now() - (runCtx.priority ?? 0) * 1000,
      );
      try {
        let called: AppAnswer | undefined;
        while (!called) {
          if (throttle && takesStart) await this.throttleGate.due(throttle);
          called = await this.calls.run(async () => {
            const ctx = await currentContext();
            if (!fence()) throw new FencedCallError();
            // Registered before the URL was disallowed, or forged: never called.
            const refused = this.appUrls.problem(ctx.url);
            if (refused) throw new Error(refused);
            // The start is the time it was claimed at: the next one is due an interval after it.
            const claimed = throttle && takesStart ? await this.throttleGate.take(throttle) : this.now();
            if (claimed === undefined) return undefined;
            sent = true;
            this.inFlight.sent(partition);
            startedAt = claimed;
            span = new AttemptSpan(ctx, call, startedAt);
            const a = await callApp(ctx, call, {
              traceparent: span.traceparent,
              ...(dispatch ? { dispatchId: dispatch } : {}),
              timeoutMs: this.deps.config.callTimeoutMs,
              now: this.now,
              nc: this.deps.nats.nc,
              serverKind: this.deps.config.signingKey ? "cloud" : "dev",
              ...(this.deps.config.signingKey ? { signingKey: this.deps.config.signingKey } : {}),
              fence,
            });
            answeredAt = this.now();
            return a;
          });
        }
        answer = called;
      } finally {
        release();
      }
    } catch (e) {
      // Held back, not failed: by the lease fence, or a throttle whose state could not be read
      // (FLOW electing a leader, say). Either way the app was not called; it is tried again.
      fenced = e instanceof FencedCallError || (!sent && runThrottled);
      if (fenced && !(e instanceof FencedCallError))
        this.log.warn({ err: e, runId }, "could not apply the run's throttle; trying again");
      answer = { kind: "transport", message: `executor could not call the app: ${(e as Error).message}` };
    }
    // A wait matches only events stored after it began: note where EVENTS ends now.
    let eventsLastSeq: number | undefined;
    if (
      answer.kind === "ops" &&
      answer.ops.some((op) => op.op === OpCodes.waitForEvent || op.op === OpCodes.invokeFunction)
    ) {
      eventsLastSeq = await this.eventLog.lastSeq().catch(() => undefined);
    }
    // The lease lapsed while this call was out (a renewal late under load, or the partition given
    // up and being taken back): the app has run the step, so wait a lease's length for it to be
    // ours again rather than drop the answer and call the step again. Taken by another process,
    // the answer is dropped below (not the owner). The call stays in flight meanwhile, so the
    // partition taken back does not call it a second time.
    if (!fenced && !this.leases.valid(partition))
      await this.leases.whenValid(partition, this.deps.config.leaseTtlMs);
    let recorded: NewRunLogEntry[] = [];
    let ownSpans: Set<string> | undefined;
    await this.runs
      .withActor(runId, async (actor) => {
        // A call replaced meanwhile (its checkpoints were refused with 409), or made before the
        // partition was given up: its answer is void.
        if (!this.inFlight.end(runId, key, token)) return;
        if (!this.leases.owns(partition) || !isActive(statusOf(actor.snapshot))) return;
        // Never sent (the fence held it back), or not to be recorded: only while the lease is
        // valid (a lapsed one may already be another executor's, whose 409 to this call's
        // checkpoints the app then reports as its answer). Called again once the lease is valid;
        // kickLater stops if the partition was lost.
        if (fenced || !this.leases.valid(partition) || isStaleDispatch(answer)) {
          setTimeout(() => this.kickLater(runId), FENCE_RETRY_MS).unref();
          return;
        }
        const entries = decideAnswer(actor.snapshot.context, call, answer, this.decideOptions(eventsLastSeq));
        for (const e of entries) if ("startedAt" in e) e.startedAt = startedAt;
        this.logOutcome(actor, call, entries);
        await this.append(actor, entries);
        // The run started (its first call answered and recorded): the next in its queue may go.
        if (inQueue && sent)
          await this.throttleGate
            .leave(inQueue, runId)
            .catch((e) => this.log.warn({ err: e, runId }, "could not leave the throttle queue"));
        if (answer.kind === "ops") await this.recordOpMetadata(runId, answer.ops);
        this.progressed(actor, "record");
        recorded = entries;
        if (answer.kind === "ops" && answer.ops.some((op) => op.span_id !== undefined))
          ownSpans = recordStepSpans(actor.snapshot.context, entries, answer.ops, this.now(), false);
        await this.kick(actor);
      })
      .catch((e) => {
        this.inFlight.end(runId, key, token);
        this.log.error({ err: e, runId }, "could not record the app's answer; retrying the run in 1 s");
        this.troubled(runId, "record", e);
        setTimeout(() => this.kickLater(runId), 1000).unref();
      });
    if (sent) this.inFlight.done(partition);
    // The attempt ends when the app answered (before the outcome is recorded, which may end the run).
    if (fenced) return;
    span?.end(answer, recorded, Math.max(answeredAt, startedAt), ownSpans);
  }

  /** How answers and reports are decided now (the clock, randomness, retry intervals). */
  private decideOptions(eventsLastSeq: number | undefined): DecideOptions {
    return {
      now: this.now(),
      random: this.random,
      ...(eventsLastSeq !== undefined ? { eventsLastSeq } : {}),
      ...(this.deps.config.retryIntervalMs !== undefined
        ? { fixedRetryIntervalMs: this.deps.config.retryIntervalMs }
        : {}),
    };
  }

  /**
   * Metadata a step wrote while it ran (`op.metadata`: scores and the like) goes to the run's
   * metadata, on the step or, for a run-scoped write, on the run. Written after the step is
   * recorded; a failure is logged, not retried (the step's result is what must not be lost).
   */
  private async recordOpMetadata(runId: string, ops: readonly Op[]): Promise<void> {
    for (const op of ops) {
      if ((op as { metadata?: unknown }).metadata === undefined) continue;
      const { run, step } = opMetadata(op);
      try {
        if (run.length) await updateRunMetadata(this.deps.buckets.metadata, runId, undefined, run);
        if (step.length) await updateRunMetadata(this.deps.buckets.metadata, runId, op.id, step);
      } catch (err) {
        this.log.warn({ err, runId, stepId: op.id }, "could not record a step's metadata");
      }
    }
  }

  private logOutcome(actor: Actor, call: DueCall, entries: NewRunLogEntry[]): void {
    const ctx = actor.snapshot.context;
    const traced = this.log.isLevelEnabled("trace");
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
        this.log.warn({ ...fields, err: e.error, retryAt: e.retryAt }, "step errored; will retry");
      else if (e.type === "step.failed") this.log.warn({ ...fields, err: e.error }, "step failed");
      else if (e.type === "run.failed") this.log.warn({ ...fields, err: e.error }, "run failed");
      else if (e.type === "run.completed") this.log.info(fields, "run completed");
      else this.log.trace(fields, e.type);
    }
  }

  /**
   * Numbers, validates (entries the state would reject are dropped and logged) and appends entries.
   * Returns false when the append lost to another writer; the actor is then reloaded.
   */
  /** The largest message body the server takes (its max_payload, less room for headers). */
  private maxMessageBytes(): number {
    return (this.deps.nats.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM;
  }

  private async append(actor: Actor, entries: NewRunLogEntry[]): Promise<boolean> {
    const limit = this.maxMessageBytes();
    let { numbered, after } = this.number(actor.snapshot, entries);
    if (numbered.length === 0) return true;
    const body = JSON.stringify(numbered);
    if (Buffer.byteLength(body) <= limit) {
      await this.appendMessage(actor, numbered, after, body);
      return true;
    }
    // Over the server's largest message: entries that can never fit become failures saying so,
    // and the rest go in several messages, in order (each message's state is applied again from
    // the one before: keeping every intermediate state of a 10,000-entry batch took gigabytes).
    ({ numbered } = this.number(
      actor.snapshot,
      entries.map((e) => fitEntry(e, limit - 2)),
    ));
    for (const chunk of chunkEntries(numbered, limit)) {
      const { after: state } = applyEntries(actor.snapshot, chunk);
      await this.appendMessage(actor, chunk, state, JSON.stringify(chunk));
    }
    return true;
  }

  /** Numbers entries after `from`'s last and applies them (entries the state rejects are dropped and logged). */
  private number(
    from: Actor["snapshot"],
    entries: NewRunLogEntry[],
  ): { numbered: RunLogEntry[]; after: Actor["snapshot"] } {
    // One batch: the run's steps are copied once, not once per entry (see core `inBatch`).
    return inBatch(() => {
      let next = from;
      const numbered: RunLogEntry[] = [];
      for (const e of entries) {
        const entry = { ...e, n: next.context.lastN + 1 } as RunLogEntry;
        try {
          next = applyEntry(next, entry);
          numbered.push(entry);
        } catch (err) {
          this.log.warn({ runId: from.context.runId, err }, "dropping an entry the run does not accept");
        }
      }
      return { numbered, after: next };
    });
  }

  /**
   * Appends one message (`body`: the JSON of `numbered`) after the actor's last; on success the
   * actor moves to `next`, the state after them. Throws AppendConflictError when another
   * writer got there first and AppendFailedError when RUNS keeps refusing; the actor is then
   * dropped, to be read again from the log.
   */
  private async appendMessage(
    actor: Actor,
    numbered: RunLogEntry[],
    next: Actor["snapshot"],
    body: string,
  ): Promise<void> {
    const first = numbered[0] as RunLogEntry;
    const partition = actor.snapshot.context.partition;
    const giveUpAt = this.now() + APPEND_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      let result: Awaited<ReturnType<RunLog["append"]>>;
      try {
        result = await this.runLog.appendJson(actor.runId, first.n, body, actor.lastSeq);
      } catch (e) {
        if (attempt < 3) continue; // same msg id and expected sequence: a retry cannot duplicate
        throw e;
      }
      if (result.ok && !result.duplicate) {
        this.traceTransitions(actor.snapshot, next);
        actor.snapshot = next;
        actor.lastSeq = result.seq;
        actor.claimed = true;
        actor.sinceSnapshot += numbered.length;
        // A snapshot holds every step: for a run with thousands (a fan-out) one every 16 entries
        // made snapshot writing quadratic. Waiting for as many new entries as half its steps keeps
        // the total linear, and a rebuild replays at most that many.
        const every = Math.max(this.deps.config.snapshotEvery, next.context.stepOrder.length >> 1);
        if (actor.sinceSnapshot >= every) this.saveSnapshot(actor);
        return;
      }
      if (!result.ok && !result.conflict && result.code >= 500) {
        // RUNS could not take it now (no stream leader while a cluster node is lost: 503 no
        // responders). Keep what the app answered and append it again, with backoff, while this
        // executor owns the run: otherwise the step would run again once the run is reloaded.
        if (this.now() < giveUpAt && this.leases.owns(partition) && !this.stopped) {
          if (attempt === 0) this.log.warn({ runId: actor.runId, result }, "could not append; retrying");
          await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
          continue;
        }
        this.log.warn({ runId: actor.runId, result }, "could not append; reloading the run from its log");
        this.runs.evict(actor.runId);
        throw new AppendFailedError(actor.runId, result.description);
      }
      // Another writer (or an earlier attempt of ours that did land) got there first: trust the log.
      await this.conflicted(actor, result);
      throw new AppendConflictError(actor.runId);
    }
  }

  /**
   * Appends a fence to a run read from its log before calling the app for it (see `RunLog.claim`):
   * the previous owner's late append then conflicts, or, if it landed first, this one does and
   * the run is read again.
   */
  private async claim(actor: Actor): Promise<void> {
    const result = await this.runLog.claim(actor.runId, actor.lastSeq);
    if (result.ok && !result.duplicate) {
      actor.lastSeq = result.seq;
      actor.claimed = true;
      return;
    }
    if (!result.ok && !result.conflict) {
      this.runs.evict(actor.runId);
      throw new AppendFailedError(actor.runId, result.description);
    }
    await this.conflicted(actor, result);
    throw new AppendConflictError(actor.runId);
  }

  /** After an append lost to another writer: the actor is dropped, to be read again from the log. */
  private async conflicted(actor: Actor, result: PublishResult): Promise<void> {
    this.log.warn({ runId: actor.runId, result }, "append conflict; reloading the run from its log");
    this.runs.evict(actor.runId);
    // The log ends before what this copy was built from: its snapshot is ahead of a log that lost
    // its tail (a server that did not sync before a crash). Rebuilt from it, every append would
    // conflict again; the log alone is the truth.
    if (!result.ok && result.lastSeq !== undefined && result.lastSeq < actor.lastSeq) {
      this.log.error(
        { runId: actor.runId, logLastSeq: result.lastSeq, snapshotSeq: actor.lastSeq },
        "the run's snapshot is ahead of its log; dropping the snapshot",
      );
      await this.runs.dropSnapshot(actor.runId);
    }
  }

  /** Spans of what the appended entries ended: sleeps, waits and invokes, and the run itself. */
  private traceTransitions(before: Actor["snapshot"], after: Actor["snapshot"]): void {
    const ctx = after.context;
    const ended = isActive(statusOf(before)) && !isActive(statusOf(after));
    for (const id of before.context.stepOrder) {
      const was = before.context.steps[id];
      if (!was || (was.status !== "sleeping" && was.status !== "waiting")) continue;
      const now = ctx.steps[id];
      if (now?.status !== was.status) recordParkedStep(ctx, was, now, this.now());
      else if (ended) recordParkedStep(ctx, was, undefined, ctx.endedAt ?? this.now());
    }
    if (ended) recordRun(ctx, statusOf(after), this.now());
  }

  private saveSnapshot(actor: Actor): void {
    this.runs.saveSnapshot(actor, this.maxMessageBytes()).then(
      () => undefined,
      (e) => this.log.warn({ err: e, runId: actor.runId }, "snapshot save failed"),
    );
  }

  /** A run reached a final state: drop its active marker and timers, keep a snapshot. */
  private async finish(actor: Actor): Promise<void> {
    const ctx = actor.snapshot.context;
    const timerIds = [TIMEOUT_START, TIMEOUT_FINISH, THROTTLE_TIMER];
    for (const s of Object.values(ctx.steps)) if (s.timerId) timerIds.push(s.timerId);
    await Promise.all(timerIds.map((id) => this.dropTimer(ctx.runId, id)));
    await this.effects.syncWaits(ctx, []);
    // Open waits registered by an earlier owner are not in this process's memory: delete them too.
    await Promise.all(
      openWaits(ctx).map((w) =>
        kvDelete(this.publisher, Buckets.waits, Keys.wait(w.event, ctx.runId, w.waitId)),
      ),
    );
    // A throttled run that ended before its start leaves its key's queue (the next one goes).
    if (ctx.throttle && !ctx.started) await this.throttleGate.leave(ctx.throttle, ctx.runId);
    await this.effects.emitLifecycleEvents(actor);
    await this.effects.indexRun(actor);
    // The final state, for whoever reads the run later: unless the log since the last snapshot is
    // short enough to replay (a 10-step run's 13 entries), which saves a write and a serialization
    // of the whole run per run.
    if (actor.sinceSnapshot >= this.deps.config.snapshotEvery)
      await this.runs.saveSnapshot(actor, this.maxMessageBytes());
    // Only the marker markParked last wrote exists, unless this process never marked the run
    // (rebuilt after a crash, say): then either may.
    const due = Keys.active(ctx.partition, ctx.runId);
    const parked = Keys.parked(ctx.partition, ctx.runId);
    for (const key of actor.parked === undefined ? [due, parked] : [actor.parked ? parked : due])
      await this.effects.eraseActive(key);
    this.inFlight.dropRun(ctx.runId);
    this.effects.forget(ctx.runId);
    this.troubles.forget(ctx.runId);
    this.runs.evict(ctx.runId);
  }

  /** Removes a timer from the heap and from TIMERS (if this process knows its sequence). */
  private async dropTimer(runId: string, timerId: string): Promise<void> {
    const key = TimerHeap.key(runId, timerId);
    const seq = this.timerSeqs.get(key);
    this.heap.remove(runId, timerId);
    this.timerSeqs.delete(key);
    if (seq !== undefined) await this.timers.remove(seq);
  }

  /**
   * Whether a run at the head of a throttle queue will never take its start: it ended (or started
   * and lost its removal), or it has no log long after it was queued (its start never came).
   */
  private async neverStarts(queued: QueuedRun): Promise<boolean> {
    const { snapshot } = await readRun(this.runLog, this.deps.buckets.snapshots, queued.runId);
    const status = statusOf(snapshot);
    if (status === "empty") return this.now() - queued.ts > NEVER_STARTED_MS;
    return !isActive(status) || snapshot.context.started === true;
  }
}

/** `timeouts` as absolute deadlines: start counts from the event, finish from the run's start. */
function deadlinesOf(cmd: StartRunCommand, now: number): Pick<RunScheduledEntry, "timeouts"> {
  const t = cmd.timeouts;
  if (!t || (t.start === undefined && t.finish === undefined)) return {};
  const text = (d: string | number) => (typeof d === "number" ? `${d} ms` : d);
  return {
    timeouts: {
      ...(t.start !== undefined
        ? { startBy: cmd.event.ts + parseDuration(t.start), start: text(t.start) }
        : {}),
      ...(t.finish !== undefined ? { finishBy: now + parseDuration(t.finish), finish: text(t.finish) } : {}),
    },
  };
}

/**
 * An answer saying the app stopped because Jetstep refused its checkpoint as stale (409): never a
 * step's or the run's outcome, whichever executor refused it.
 */
function isStaleDispatch(answer: AppAnswer): boolean {
  return answer.kind === "error" && answer.error.name === STALE_DISPATCH_ERROR;
}

export { AppendConflictError, AppendFailedError } from "./append-errors.ts";
