import { Buckets, Streams, Subjects } from "@jetstep/core";
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Nats } from "./connection.ts";
import { allowMessageTtl } from "./expiring-kv.ts";
import { ensureRunStreams, type RunsLayout } from "./runs-layout.ts";

const NS_PER_MS = 1_000_000;
const DAY_MS = 86_400_000;

export interface StreamOptions {
  replicas: number;
  /** Run log streams of a new store (default DEFAULT_RUN_SHARDS; an existing store keeps its own). */
  runShards?: number;
}

function configs(opts: StreamOptions): (Partial<StreamConfig> & { name: string })[] {
  const common = { storage: StorageType.File, num_replicas: opts.replicas };
  return [
    {
      ...common,
      name: Streams.events,
      subjects: [Subjects.allEvents],
      retention: RetentionPolicy.Limits,
      duplicate_window: DAY_MS * NS_PER_MS,
      max_age: 7 * DAY_MS * NS_PER_MS,
      max_msg_size: 1024 * 1024,
      allow_direct: true,
    },
    {
      ...common,
      name: Streams.inbox,
      subjects: [Subjects.allInbox],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: DAY_MS * NS_PER_MS,
    },
    {
      ...common,
      name: Streams.runIndex,
      subjects: [Subjects.allRunIndex],
      retention: RetentionPolicy.Limits,
      allow_direct: true,
      max_msgs_per_subject: 1,
      max_age: 7 * DAY_MS * NS_PER_MS,
    },
    {
      ...common,
      name: Streams.deadLetters,
      subjects: [Subjects.allDeadLetters],
      retention: RetentionPolicy.Limits,
      max_age: 30 * DAY_MS * NS_PER_MS,
    },
    {
      // Runs wait here until their throttled start, however long that is: no age limit.
      ...common,
      name: Streams.throttle,
      subjects: [Subjects.allThrottle],
      retention: RetentionPolicy.Limits,
      duplicate_window: DAY_MS * NS_PER_MS,
      allow_direct: true,
    },
    {
      // Streamed output of durable endpoints: read while the run goes on, or soon after.
      ...common,
      name: Streams.realtime,
      subjects: [Subjects.allRealtime],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 60 * 60_000 * NS_PER_MS,
      max_bytes: 1024 * 1024 * 1024,
      max_msg_size: 1024 * 1024,
    },
    ...observingStreams(common),
    {
      ...common,
      name: Streams.timers,
      subjects: [Subjects.allTimers],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      duplicate_window: 2 * 60_000 * NS_PER_MS,
    },
  ];
}

/** What the UI's function pages read: bulk operations (the audit log) and activity rollups. */
function observingStreams(common: {
  storage: StorageType;
  num_replicas: number;
}): (Partial<StreamConfig> & { name: string })[] {
  return [
    {
      // The latest state of each bulk operation (the audit log), kept 90 days.
      ...common,
      name: Streams.operations,
      subjects: [Subjects.allOperations],
      retention: RetentionPolicy.Limits,
      allow_direct: true,
      max_msgs_per_subject: 1,
      max_age: 90 * DAY_MS * NS_PER_MS,
    },
    {
      // Activity per function and minute for the charts (8 days, so that a week's chart is whole).
      ...common,
      name: Streams.rollups,
      subjects: [Subjects.allRollups],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      allow_direct: true,
      max_age: 8 * DAY_MS * NS_PER_MS,
      max_bytes: 1024 * 1024 * 1024,
    },
  ];
}

/**
 * Creates the streams if missing and returns where run logs live. An existing stream keeps its
 * operator's settings, except that direct gets are switched on where Jetstep reads by direct get
 * (an older store may lack it).
 */
export async function ensureStreams(jsm: JetStreamManager, opts: StreamOptions): Promise<RunsLayout> {
  for (const cfg of configs(opts)) {
    let info: Awaited<ReturnType<JetStreamManager["streams"]["info"]>> | undefined;
    try {
      info = await jsm.streams.info(cfg.name);
    } catch {
      await jsm.streams.add(cfg);
      continue;
    }
    if (cfg.allow_direct && !info.config.allow_direct) {
      await jsm.streams.update(cfg.name, { ...info.config, allow_direct: true });
    }
  }
  const layout = await ensureRunStreams(jsm, {
    replicas: opts.replicas,
    ...(opts.runShards !== undefined ? { wanted: opts.runShards } : {}),
  });
  // Shards are made with direct gets on; a store's single RUNS stream may predate them.
  if (layout.shards === 0) {
    const info = await jsm.streams.info(Streams.runs);
    if (!info.config.allow_direct)
      await jsm.streams.update(Streams.runs, { ...info.config, allow_direct: true });
  }
  return layout;
}

export interface Buckets_ {
  functions: KV;
  leases: KV;
  snapshots: KV;
  active: KV;
  eventRuns: KV;
  waits: KV;
  idempotency: KV;
  batches: KV;
  flow: KV;
  debounces: KV;
  metadata: KV;
  pauses: KV;
}

/** JetStream's error code for "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;

/** Opens (creating when missing) every KV bucket. */
export async function openBuckets(nats: Nats, opts: StreamOptions): Promise<Buckets_> {
  const kvm = new Kvm(nats.js);
  const open = async (name: string, extra: Record<string, unknown> = {}) => {
    try {
      return await kvm.create(name, {
        replicas: opts.replicas,
        history: 1,
        storage: StorageType.File,
        ...extra,
      });
    } catch (e) {
      // Made meanwhile by another process starting on the same store, whose settings have moved
      // on since (LEASES takes per-message TTLs right after it is made): use it as it is. Five
      // `jetstep start` processes starting together on a new store hit this.
      if (e instanceof JetStreamApiError && e.apiError().err_code === STREAM_NAME_IN_USE)
        return kvm.open(name);
      throw e;
    }
  };
  const leases = await open(Buckets.leases);
  // Leases and membership keys expire by per-message TTL (expiring-kv.ts).
  await allowMessageTtl(nats.jsm, Buckets.leases);
  return {
    functions: await open(Buckets.functions),
    leases,
    snapshots: await open(Buckets.snapshots),
    active: await open(Buckets.active),
    eventRuns: await open(Buckets.eventRuns, { ttl: 7 * DAY_MS }),
    waits: await open(Buckets.waits),
    idempotency: await open(Buckets.idempotency, { ttl: DAY_MS }),
    batches: await open(Buckets.batches),
    flow: await open(Buckets.flow, { ttl: DAY_MS }),
    debounces: await open(Buckets.debounces),
    metadata: await open(Buckets.metadata),
    pauses: await open(Buckets.pauses),
  };
}

export type { Buckets_ as JetstepBuckets };
