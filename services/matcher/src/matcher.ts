/**
 * The matcher: one durable consumer on EVENTS (shared by every matcher process). For each event
 * it finds the triggered functions, derives each run's id deterministically from (event id,
 * function id) — so a redelivered event starts nothing twice — indexes event → runs, and sends a
 * start command to each run's partition INBOX (deduplicated by `start-<runId>`).
 *
 * This file composes its parts: `EventsConsumer` (the consumer), `EventMatching` (what one event
 * does), `RunStarter` (commands to run partitions), and the indexes and gates they use.
 */
import {
  BatchStore,
  DebounceStore,
  EventLog,
  EventRunsStore,
  FlowStore,
  IdempotencyStore,
  type JetstepBuckets,
  type Nats,
  Publisher,
  partitionCount,
  Registry,
  RunLog,
  SnapshotStore,
  WaitsStore,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { Batcher } from "./batcher.ts";
import { Debouncer } from "./debouncer.ts";
import { EventMatching } from "./event-matching.ts";
import { EventsConsumer } from "./events-consumer.ts";
import { FlowControl } from "./flow.ts";
import { IdempotencyGate } from "./idempotency.ts";
import { MatcherLog } from "./matcher-log.ts";
import { RunStarter } from "./run-starter.ts";
import { TriggerIndex } from "./triggers.ts";
import { WaitIndex } from "./wait-index.ts";

export interface MatcherDeps {
  nats: Nats;
  buckets: JetstepBuckets;
  log: Logger;
  partitions: number;
  /** The clock (default `Date.now`). */
  now?: () => number;
  /** The registry of this process (`sharedRegistry`), watched and stopped by its maker; else its own. */
  registry?: Registry;
}

export interface Matcher {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function buildMatcher(deps: MatcherDeps): Matcher {
  return new MatcherImpl(deps);
}

class MatcherImpl implements Matcher {
  private readonly log: MatcherLog;
  private readonly publisher: Publisher;
  private readonly registry: Registry;
  private readonly waits: WaitIndex;
  private readonly debouncer: Debouncer;
  private readonly batcher: Batcher;
  private readonly consumer: EventsConsumer;
  private partitions: number;

  constructor(private readonly deps: MatcherDeps) {
    const { nats, buckets } = deps;
    const now = deps.now ?? Date.now;
    const log = new MatcherLog(deps.log.child({ svc: "matcher" }));
    this.log = log;
    this.partitions = deps.partitions;
    const publisher = new Publisher(nats.nc);
    this.publisher = publisher;
    this.registry =
      deps.registry ??
      new Registry(buckets.functions, (message, err) => log.warn({ err, bucket: "functions" }, message));
    const functions = () => this.registry.functions();
    const eventRuns = new EventRunsStore(buckets.eventRuns, publisher);
    const events = new EventLog(nats.jsm);
    const starter = new RunStarter({
      publisher,
      log,
      now,
      eventRuns,
      partitions: () => this.partitions,
    });
    this.waits = new WaitIndex(
      new WaitsStore(buckets.waits),
      events,
      (m) => starter.resolveWait(m),
      log,
      now,
    );
    this.debouncer = new Debouncer(
      new DebounceStore(buckets.debounces),
      events,
      functions,
      (f, runId, event, seq) => starter.startDebounced(f, runId, event, seq),
      log,
      now,
    );
    this.batcher = new Batcher(
      new BatchStore(buckets.batches),
      events,
      functions,
      (f, runId, events, seq) => starter.start(f, runId, events, seq),
      log,
      now,
    );
    const matching = new EventMatching({
      log,
      index: (record) => eventRuns.record(record),
      registry: this.registry,
      triggers: new TriggerIndex(log),
      idempotency: new IdempotencyGate(new IdempotencyStore(buckets.idempotency), log),
      flow: new FlowControl(
        new FlowStore(buckets.flow),
        new RunLog(nats.jsm, publisher),
        new SnapshotStore(buckets.snapshots),
        publisher,
        log,
        now,
      ),
      debouncer: this.debouncer,
      batcher: this.batcher,
      waits: this.waits,
      starter,
    });
    this.consumer = new EventsConsumer({ nats, publisher, log: log.log, handle: (m) => matching.onEvent(m) });
  }

  async start(): Promise<void> {
    this.partitions = await partitionCount(this.deps.buckets.leases, this.deps.partitions);
    if (!this.deps.registry) await this.registry.watch();
    await this.waits.watch();
    await this.batcher.watch();
    await this.debouncer.watch();
    await this.consumer.start();
    this.log.log.info({ partitions: this.partitions }, "matcher started");
  }

  async stop(): Promise<void> {
    await this.consumer.stop();
    if (!this.deps.registry) this.registry.stop();
    this.waits.stop();
    this.batcher.stop();
    this.debouncer.stop();
    this.publisher.close();
  }
}
