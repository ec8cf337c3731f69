/**
 * Partition ownership: the leases this executor holds (a fair share of the partitions among the
 * executors alive), and for each owned partition its INBOX consumer, its timers and its due runs.
 * Taking a partition over starts its consumer, then lists its due runs, loads its timers and
 * resumes the runs (`catchUp`); handing it over stops its commands and lets its calls finish; a
 * reconcile pass resumes due runs nothing else would wake and reloads a partition whose consumer
 * stalled.
 */
import { Keys } from "@jetstep/core";
import {
  type ActiveStore,
  type Delivery,
  inboxConsumer,
  inboxConsumerState,
  type JetstepBuckets,
  type LeaseLoss,
  Membership,
  type Nats,
  PartitionLeases,
  PartitionLoadError,
  PULL_EXPIRES_MS,
  partitionCount,
  ReadPath,
  type StoredTimer,
  type TimerStore,
  withTimeout,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { readTakenPartition, type TakeOverReads } from "./partition-takeover.ts";

/** Longest wait for a partition's INBOX consumer to be made and consuming; the load is retried. */
const CONSUMER_TIMEOUT_MS = 30_000;
/** A partition owned without a consumer for this long (a load that never settled) is reloaded. */
const UNCONSUMED_RELOAD_MS = 2 * CONSUMER_TIMEOUT_MS;

/** What the owner of a partition does with it, done by the rest of the executor. */
export interface PartitionWork {
  /** A command delivered by partition `p`'s INBOX consumer. */
  onInbox(p: number, m: Delivery): void;
  /** The partition is being taken over (before its consumer starts). */
  taken(p: number): void;
  /** Its timers, read from TIMERS. */
  timersLoaded(timers: readonly StoredTimer[]): void;
  /** Resumes a run (due at takeover, or found idle by a reconcile pass). */
  kickLater(runId: string): void;
  /** Calls in flight for the run. */
  callsOf(runId: string): number;
  /** Resolves true once the partition's calls out are recorded, or false after `withinMs`. */
  settled(p: number, withinMs: number): Promise<boolean>;
  /** The partition was given up: drop what is held of it (called before its consumer closes). */
  released(p: number): void;
}

export interface PartitionOwnerDeps {
  nats: Nats;
  /** The LEASES bucket (opened by the composition root), for the partition leases. */
  leases: JetstepBuckets["leases"];
  active: Pick<ActiveStore, "listKeys" | "scanKeys">;
  log: Logger;
  now: () => number;
  timerStore: Pick<TimerStore, "load" | "scan">;
  config: { owner: string; partitions: number; leaseTtlMs: number; reconcileMs: number };
  stopped(): boolean;
  work: PartitionWork;
}

type ConsumerState = Awaited<ReturnType<typeof inboxConsumerState>>;

export class PartitionOwner {
  private leases: PartitionLeases | undefined;
  private membership: Membership | undefined;
  private partitions = 0;
  /** Per owned partition, its INBOX consumer's messages. */
  private readonly consumers = new Map<number, { close(): Promise<unknown> }>();
  /** Partitions being handed to another executor: their calls finish, no new ones start. */
  private readonly handingOver = new Set<number>();
  /** The current load of each partition (`acquire`), so a superseded load installs nothing. */
  private readonly loads = new Map<number, { token: number; startedAt: number }>();
  private loadSeq = 0;
  /** Timers and due runs are read with an ordered consumer, or scanned when consumers fail. */
  private readonly reads = new ReadPath();
  /** Each partition consumer's state at the last reconcile pass (to see it make no progress). */
  private readonly consumerStates = new Map<number, ConsumerState>();
  private reconciler: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: PartitionOwnerDeps) {
    this.log = deps.log;
  }

  ownedPartitions(): number[] {
    return this.leases?.ownedPartitions() ?? [];
  }

  /** Whether this process holds partition `p`. */
  owns(p: number): boolean {
    return this.leases?.owns(p) ?? false;
  }

  /** Whether nobody else can hold `p` now (owned, lease renewed recently enough). */
  valid(p: number): boolean {
    return this.leases?.valid(p) ?? false;
  }

  /** For how long from now `p` stays valid without a renewal (0 if it is not valid). */
  validForMs(p: number): number {
    return this.leases?.validForMs(p) ?? 0;
  }

  /** Whether `p` takes new work: owned and not being handed over. */
  active(p: number): boolean {
    return this.owns(p) && !this.handingOver.has(p);
  }

  whenValid(p: number, timeoutMs: number, opts: { whileOwned?: boolean } = {}): Promise<boolean> {
    return this.leases?.whenValid(p, timeoutMs, opts) ?? Promise.resolve(false);
  }

  async start(): Promise<void> {
    const { nats, leases, config: cfg } = this.deps;
    this.partitions = await partitionCount(leases, cfg.partitions);
    const membership = new Membership(nats.js, nats.jsm, cfg.owner, cfg.leaseTtlMs);
    this.membership = membership;
    this.leases = new PartitionLeases(
      leases,
      nats.js,
      {
        owner: cfg.owner,
        partitions: this.partitions,
        ttlMs: cfg.leaseTtlMs,
        onError: (e) =>
          this.log.error({ err: e }, e instanceof PartitionLoadError ? e.message : "lease tick failed"),
        // A fair share, so several executors split the partitions.
        maxOwned: () => Math.ceil(this.partitions / membership.count()),
      },
      {
        acquired: (p) => this.acquire(p),
        lost: (p, why) => this.release(p, why),
        handingOver: (p, withinMs) => this.handOver(p, withinMs),
      },
    );
    await membership.start();
    await this.leases.start();
    if (cfg.reconcileMs > 0) {
      this.reconciler = setInterval(() => void this.reconcile(), cfg.reconcileMs);
      this.reconciler.unref();
    }
    this.log.info({ partitions: this.partitions, owned: this.ownedPartitions().length }, "executor started");
  }

  /** Stops taking work: no reconcile passes, and every owned partition handed over (`drainMs`). */
  async drain(drainMs: number): Promise<void> {
    if (this.reconciler) clearInterval(this.reconciler);
    await Promise.all(this.ownedPartitions().map((p) => this.handOver(p, drainMs)));
  }

  /** Leaves: with `release`, the leases are given up at once; otherwise they lapse. */
  async stop(release: boolean): Promise<void> {
    if (this.reconciler) clearInterval(this.reconciler);
    await this.membership?.stop();
    await this.leases?.stop(release);
  }

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
    this.loads.set(p, { token, startedAt: this.deps.now() });
    const current = () => this.loads.get(p)?.token === token && this.owns(p) && !this.deps.stopped();
    this.deps.work.taken(p);
    const { js, jsm } = this.deps.nats;
    const messages = await withTimeout(
      inboxConsumer(js, jsm, p).then((c) => c.consume({ max_messages: 512, expires: PULL_EXPIRES_MS })),
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
      for await (const m of messages) this.deps.work.onInbox(p, m);
    })()
      .catch((e) => log.error({ err: e }, "inbox consumer failed"))
      .finally(() => {
        // The consumer stopped by itself (not released by us): nothing would read this partition's
        // commands any more. Reload it: the next lease tick creates a new consumer.
        if (this.consumers.get(p) !== messages || this.deps.stopped()) return;
        this.consumers.delete(p);
        log.warn("inbox consumer stopped; reloading the partition");
        void this.leases?.reload(p).catch((e) => log.error({ err: e }, "partition reload failed"));
      });
    void this.catchUp(p, current, log);
  }

  /**
   * Lists partition `p`'s due runs, loads its timers and resumes the runs (`readTakenPartition`,
   * which says why in that order), retrying with backoff (up to 30 s apart) until done or the
   * partition is no longer this load's.
   */
  private async catchUp(p: number, current: () => boolean, log: Logger): Promise<void> {
    const started = this.deps.now();
    const store = this.deps.timerStore;
    const loaded = { timers: false };
    const steps: TakeOverReads = {
      listDue: () => this.dueRuns(p),
      loadTimers: () =>
        this.reads.read(
          () => store.load(p),
          () => store.scan(p),
          (e) => log.warn({ err: e }, "could not read timers with a consumer; scanning for 5 min"),
        ),
      timersLoaded: (timers) => this.deps.work.timersLoaded(timers),
      kickLater: (runId) => this.deps.work.kickLater(runId),
    };
    for (let attempt = 0; current(); attempt++) {
      try {
        const read = await readTakenPartition(steps, current, loaded);
        if (read) log.debug({ ...read, ms: this.deps.now() - started }, "partition acquired");
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
    await this.closeConsumer(p);
    if (!(await this.deps.work.settled(p, withinMs)))
      this.log.warn({ partition: p, withinMs }, "handing the partition over with calls still out");
  }

  private async release(p: number, why: LeaseLoss): Promise<void> {
    this.handingOver.delete(p);
    this.loads.delete(p);
    // Before anything is awaited: a load of `p` starting meanwhile must find nothing of this one.
    this.deps.work.released(p);
    await this.closeConsumer(p);
    // Stopping and fair-share hand-overs are normal; a lease that lapsed or a failed load is not.
    if (why === "stopped") this.log.debug({ partition: p }, "partition released (stopping)");
    else if (why === "handed-over") this.log.info({ partition: p }, "partition handed over");
    else this.log.warn({ partition: p, why }, "partition released");
  }

  private async closeConsumer(p: number): Promise<void> {
    const c = this.consumers.get(p);
    this.consumers.delete(p);
    await c?.close().catch(() => undefined);
  }

  /**
   * Run ids marked due in partition `p` (ACTIVE `p<n>.<runId>`), listed with an ordered consumer,
   * or scanned without one when consumers fail (this runs on every reconcile pass, and must work
   * while a node is down).
   */
  private async dueRuns(p: number): Promise<string[]> {
    const filter = Keys.activeInPartition(p);
    const keys = await this.reads.read(
      () => this.deps.active.listKeys(filter),
      () => this.deps.active.scanKeys(filter),
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
    for (const p of this.ownedPartitions()) {
      if (this.deps.stopped()) return;
      if (!this.owns(p)) continue; // released meanwhile
      // Owned, yet no consumer long after its load began: the load never settled. Reload.
      const load = this.loads.get(p);
      if (!this.consumers.has(p) && (!load || this.deps.now() - load.startedAt > UNCONSUMED_RELOAD_MS)) {
        this.log.warn({ partition: p }, "partition owned without an inbox consumer; reloading");
        await this.leases?.reload(p);
        continue;
      }
      await this.checkConsumer(p);
      try {
        for (const runId of await this.dueRuns(p))
          if (this.deps.work.callsOf(runId) === 0) this.deps.work.kickLater(runId);
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
}
