/**
 * Where run logs live. A store made by this version has `shards` streams `RUNS_<k>` (subjects
 * `run.<k>.>`, see core `RunShards`); a store made before run logs were sharded has the one stream
 * RUNS (`run.>`) and keeps it (`shards: 0`), so upgrading never moves or loses a log.
 *
 * Why shards: with `sync_interval: always` nats-server writes and fsyncs a stream's messages one
 * at a time, so one stream caps appends at one fsync each (3,600 ack'd publishes/s on this
 * project's 2-vCPU test machine), and every run's steps queued behind each other there (13 ms per
 * append at p50 under W1). Streams fsync in parallel: the same machine took 6,300 msg/s over 2
 * streams, 9,600 over 4 and 12,100 over 8.
 */
import { fnv1a32, RunShards, Streams, Subjects } from "@jetstep/core";
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";

/** Shards a new store gets unless told otherwise. */
export const DEFAULT_RUN_SHARDS = 4;

const NS_PER_MS = 1_000_000;

export interface RunsLayout {
  /** Number of `RUNS_<k>` streams; 0 for a store with the single RUNS stream. */
  shards: number;
  /** Whether the streams are replicated (reads then go to the stream leader, see RunLog). */
  replicated: boolean;
}

export interface RunLocation {
  stream: string;
  subject: string;
}

/** The stream and subject of a run's log. */
export function runLocation(layout: RunsLayout, runId: string): RunLocation {
  if (layout.shards === 0) return { stream: Streams.runs, subject: Subjects.run(runId) };
  const shard = fnv1a32(runId) % layout.shards;
  return { stream: RunShards.stream(shard), subject: RunShards.subject(shard, runId) };
}

/** Every stream that holds run logs under `layout`. */
export function runStreams(layout: RunsLayout): string[] {
  if (layout.shards === 0) return [Streams.runs];
  return Array.from({ length: layout.shards }, (_, k) => RunShards.stream(k));
}

function shardConfig(k: number, shards: number, replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name: RunShards.stream(k),
    subjects: [RunShards.subjects(k)],
    storage: StorageType.File,
    num_replicas: replicas,
    retention: RetentionPolicy.Limits,
    allow_direct: true,
    duplicate_window: 2 * 60_000 * NS_PER_MS,
    metadata: { [RunShards.metadataKey]: String(shards) },
  };
}

async function infoOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

function isNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound;
}

function shardsOf(info: StreamInfo): number {
  const raw = info.config.metadata?.[RunShards.metadataKey];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > RunShards.max)
    throw new Error(`stream ${info.config.name} has no valid ${RunShards.metadataKey} metadata (${raw})`);
  return n;
}

/** Reads the layout of an existing store (throws when it has no run streams yet). */
export async function readRunsLayout(jsm: JetStreamManager): Promise<RunsLayout> {
  const first = await infoOrUndefined(jsm, RunShards.stream(0));
  if (first) return { shards: shardsOf(first), replicated: first.config.num_replicas > 1 };
  const legacy = await infoOrUndefined(jsm, Streams.runs);
  if (legacy) return { shards: 0, replicated: legacy.config.num_replicas > 1 };
  throw new Error(
    `no run log streams (${RunShards.stream(0)} or ${Streams.runs}): start Jetstep to create them`,
  );
}

/**
 * Makes the run streams of a new store (`wanted` shards), or completes those of an existing one
 * with the count it was made with (a store keeps its count; `wanted` is then ignored), and returns
 * the layout. Safe to run from several processes at once: whoever makes `RUNS_0` first fixes it.
 */
export async function ensureRunStreams(
  jsm: JetStreamManager,
  opts: { replicas: number; wanted?: number },
): Promise<RunsLayout> {
  const wanted = opts.wanted ?? DEFAULT_RUN_SHARDS;
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > RunShards.max)
    throw new RangeError(`run shards must be an integer from 1 to ${RunShards.max}, got ${wanted}`);
  let first = await infoOrUndefined(jsm, RunShards.stream(0));
  if (!first) {
    const legacy = await infoOrUndefined(jsm, Streams.runs);
    if (legacy) return { shards: 0, replicated: legacy.config.num_replicas > 1 };
    try {
      first = await jsm.streams.add(shardConfig(0, wanted, opts.replicas));
    } catch (e) {
      // Another process made it meanwhile (with its own count): use that one.
      first = await infoOrUndefined(jsm, RunShards.stream(0));
      if (!first) throw e;
    }
  }
  const shards = shardsOf(first);
  for (let k = 1; k < shards; k++) {
    if (await infoOrUndefined(jsm, RunShards.stream(k))) continue;
    try {
      await jsm.streams.add(shardConfig(k, shards, first.config.num_replicas));
    } catch (e) {
      if (!(await infoOrUndefined(jsm, RunShards.stream(k)))) throw e;
    }
  }
  return { shards, replicated: first.config.num_replicas > 1 };
}
