/**
 * The one module that owns every stream, subject, consumer, bucket and header name.
 * Subjects are built only through the functions here; every dynamic token is validated or
 * escaped so that `.`, `*`, `>` and whitespace can never change a subject's meaning.
 */
import { InvalidTokenError } from "./errors.ts";

export const Streams = {
  events: "EVENTS",
  runs: "RUNS",
  inbox: "INBOX",
  timers: "TIMERS",
  runIndex: "RUN_INDEX",
  deadLetters: "DEAD_LETTERS",
  /** Throttled runs waiting for their start, in arrival order (one subject per key and run). */
  throttle: "THROTTLE",
  /** What durable endpoints stream (SSE frames), per run, kept an hour for late readers. */
  realtime: "REALTIME",
  /** Per-function activity per minute, as each executor counted it (charts; see rollups.ts). */
  rollups: "ROLLUPS",
  /** Bulk operations (replays, cancellations, pauses, resumes): the latest state of each, an audit log. */
  operations: "OPERATIONS",
} as const;
export type Streams = (typeof Streams)[keyof typeof Streams];

export const Buckets = {
  functions: "JETSTEP_FUNCTIONS",
  leases: "JETSTEP_LEASES",
  snapshots: "JETSTEP_SNAPSHOTS",
  active: "JETSTEP_ACTIVE",
  eventRuns: "JETSTEP_EVENT_RUNS",
  waits: "JETSTEP_WAITS",
  idempotency: "JETSTEP_IDEMPOTENCY",
  batches: "JETSTEP_BATCHES",
  flow: "JETSTEP_FLOW",
  debounces: "JETSTEP_DEBOUNCES",
  /** Run metadata (scores and the like), one key per run id. */
  metadata: "JETSTEP_METADATA",
  /** Paused functions, one key per function (their runs start when it is resumed). */
  pauses: "JETSTEP_PAUSES",
} as const;
export type Buckets = (typeof Buckets)[keyof typeof Buckets];

export const Consumers = {
  matcher: "matcher",
  inbox: (partition: number): string => `inbox-p${checkPartition(partition)}`,
} as const;

export const Headers = {
  msgId: "Nats-Msg-Id",
  expectedLastSubjectSeq: "Nats-Expected-Last-Subject-Sequence",
  traceparent: "traceparent",
  /** The event key of an event published on NATS (`jetstep.events`), as in `POST /e/:key`. */
  eventKey: "Jetstep-Event-Key",
} as const;

/** Subject prefixes; each stream captures `<prefix>.>`. */
export const SubjectPrefix = {
  events: "evt",
  runs: "run",
  inbox: "inbox",
  timers: "timer",
  runIndex: "ridx",
  deadLetters: "dlq",
  throttle: "thq",
  realtime: "rt",
  rollups: "roll",
  operations: "op",
} as const;

const SAFE_TOKEN = /^[A-Za-z0-9_-]+$/;

/** Rejects a token that is not [A-Za-z0-9_-]+ (run ids, partition numbers, timer ids). */
export function checkToken(kind: string, token: string): string {
  if (!SAFE_TOKEN.test(token)) throw new InvalidTokenError(kind, token);
  return token;
}

function checkPartition(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new InvalidTokenError("partition", String(p));
  return p;
}

/**
 * Escapes an arbitrary string (an event name such as `user/signup` or `a.b c`) into one
 * subject token: characters outside [A-Za-z0-9_-] become `=XX` hex (UTF-8 bytes), and `=` itself
 * is escaped, so the mapping is injective and reversible.
 */
export function escapeToken(raw: string): string {
  if (raw.length === 0) return "=";
  let out = "";
  for (const ch of raw) {
    if (/^[A-Za-z0-9_-]$/.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch)) out += `=${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

export function unescapeToken(token: string): string {
  if (token === "=") return "";
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token[i] as string;
    if (c === "=") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

export const Subjects = {
  event: (name: string): string => `${SubjectPrefix.events}.${escapeToken(name)}`,
  allEvents: `${SubjectPrefix.events}.>`,
  /** A run's log in a store with one RUNS stream (made before run logs were sharded). */
  run: (runId: string): string => `${SubjectPrefix.runs}.${checkToken("runId", runId)}`,
  allRuns: `${SubjectPrefix.runs}.>`,
  inbox: (partition: number): string => `${SubjectPrefix.inbox}.${checkPartition(partition)}`,
  allInbox: `${SubjectPrefix.inbox}.>`,
  timer: (partition: number, runId: string, timerId: string): string =>
    `${SubjectPrefix.timers}.${checkPartition(partition)}.${checkToken("runId", runId)}.${escapeToken(timerId)}`,
  partitionTimers: (partition: number): string => `${SubjectPrefix.timers}.${checkPartition(partition)}.>`,
  allTimers: `${SubjectPrefix.timers}.>`,
  /** RUN_INDEX: the latest state of each run (one message per subject), for listing runs without RUNS. */
  runIndex: (runId: string): string => `${SubjectPrefix.runIndex}.${checkToken("runId", runId)}`,
  allRunIndex: `${SubjectPrefix.runIndex}.>`,
  /**
   * NATS ingestion: publish (or request) one event or an array to `jetstep.events` or any
   * `jetstep.events.<…>` subject (the suffix is free for authorization scoping; the event name is in
   * the payload). A request is answered like `POST /e/:key`; a rejected plain publish goes to
   * DEAD_LETTERS with the reason.
   */
  ingest: "jetstep.events",
  ingestAll: "jetstep.events.>",
  /**
   * NATS workers (SDK `worker()`): calls to an app's functions are published here, with a reply
   * subject; every worker process of the app subscribes in the queue group `Queues.worker`, so each
   * call reaches one of them.
   */
  workerCall: (appId: string): string => `jetstep.call.${escapeToken(appId)}`,
  /** Workers register their app here (a request; gateways answer in the queue group `Queues.register`). */
  workerRegister: "jetstep.register",
  /** A gateway publishes here when it starts; every worker then registers again. */
  workerSync: "jetstep.workers.sync",
  /**
   * Checkpoints of runs in partition `p` (core NATS request/reply): the partition's owner
   * subscribes while it holds the lease; gateways and NATS workers send here.
   */
  checkpoint: (partition: number): string => `jetstep.checkpoint.${checkPartition(partition)}`,
  /** THROTTLE: run `runId` waits for a start under the throttle key whose token is `token`. */
  throttleQueue: (token: string, runId: string): string =>
    `${SubjectPrefix.throttle}.${checkToken("throttle", token)}.${checkToken("runId", runId)}`,
  /** THROTTLE: every run waiting under one throttle key (the first message is the queue's head). */
  throttleQueueOf: (token: string): string => `${SubjectPrefix.throttle}.${checkToken("throttle", token)}.*`,
  allThrottle: `${SubjectPrefix.throttle}.>`,
  /** REALTIME: the SSE frames run `runId`'s endpoint streamed, in order. */
  realtime: (runId: string): string => `${SubjectPrefix.realtime}.${checkToken("runId", runId)}`,
  allRealtime: `${SubjectPrefix.realtime}.>`,
  /** Core NATS: a run left the queue of throttle key `token` (took its start, or ended waiting). */
  throttleTurn: (token: string): string => `jetstep.throttle.turn.${checkToken("throttle", token)}`,
  allThrottleTurns: "jetstep.throttle.turn.*",
  /** ROLLUPS: what executors counted of function `fnId`, per minute. */
  rollup: (fnId: string): string => `${SubjectPrefix.rollups}.${escapeToken(fnId)}`,
  allRollups: `${SubjectPrefix.rollups}.>`,
  /** OPERATIONS: bulk operation `id`'s latest state (one message per subject). */
  operation: (id: string): string => `${SubjectPrefix.operations}.${checkToken("operationId", id)}`,
  allOperations: `${SubjectPrefix.operations}.>`,
  deadLetter: (source: string): string => `${SubjectPrefix.deadLetters}.${checkToken("source", source)}`,
  allDeadLetters: `${SubjectPrefix.deadLetters}.>`,
} as const;

/**
 * Run logs are spread over several streams, `RUNS_<k>` holding `run.<k>.<runId>` (k = a hash of
 * the run id modulo the shard count): nats-server stores each stream's writes one after another,
 * each fsynced before its ack, so one stream is a ceiling on appends per second that several
 * streams lift (they fsync in parallel). The count is fixed when the streams are made and kept in
 * each shard's stream metadata under `metadataKey`.
 */
export const RunShards = {
  stream: (shard: number): string => `${Streams.runs}_${checkShard(shard)}`,
  subjects: (shard: number): string => `${SubjectPrefix.runs}.${checkShard(shard)}.>`,
  subject: (shard: number, runId: string): string =>
    `${SubjectPrefix.runs}.${checkShard(shard)}.${checkToken("runId", runId)}`,
  metadataKey: "jetstep_run_shards",
  max: 64,
} as const;

function checkShard(k: number): number {
  if (!Number.isInteger(k) || k < 0 || k >= RunShards.max)
    throw new InvalidTokenError("run shard", String(k));
  return k;
}

/** Queue groups of core NATS subscriptions. */
export const Queues = {
  /** Worker processes of one app share its call subject in this group. */
  worker: "jetstep-worker",
  /** Gateways share the registration subject in this group. */
  register: "jetstep-register",
} as const;

/**
 * NATS headers of the worker protocol. A call carries the HTTP call's headers (`x-inngest-signature`,
 * `x-inngest-server-kind`, `traceparent`, …) under their HTTP names, plus `Jetstep-Query` (the HTTP
 * query string: `fnId=…&stepId=…[&compensate=…]`). An answer carries the HTTP answer's headers plus
 * `Jetstep-Status` (the HTTP status); while a call runs, the worker sends progress messages with
 * `Jetstep-Status: 100` and `Jetstep-Heartbeat-Ms` (its heartbeat interval) and no body.
 */
export const WorkerHeaders = {
  status: "Jetstep-Status",
  query: "Jetstep-Query",
  heartbeatMs: "Jetstep-Heartbeat-Ms",
} as const;

/** `Jetstep-Status` of a worker's progress message (HTTP's 100 Continue). */
export const WORKER_PROGRESS_STATUS = 100;

/**
 * `Jetstep-Status` of a worker's "busy" answer: it runs `maxInFlight` calls already and did not
 * start this one. The executor sends the call again (another worker of the queue group may take
 * it) without counting an attempt.
 */
export const WORKER_BUSY_STATUS = 429;

/**
 * App URLs of functions served by NATS workers: `nats://<appId>?fnId=<fnId>&stepId=step`. The
 * executor calls `Subjects.workerCall(appId)` for them instead of POSTing.
 */
export const WorkerUrls = {
  scheme: "nats:",
  /** The app URL a worker registers (its functions' step URLs add `fnId` and `stepId`). */
  app: (appId: string): string => `nats://${encodeURIComponent(appId)}`,
  /** The app id of a worker URL, or undefined when `url` is not one. */
  appIdOf: (url: URL): string | undefined =>
    url.protocol === "nats:" && url.hostname !== "" ? decodeURIComponent(url.hostname) : undefined,
} as const;

export const Keys = {
  /** FUNCTIONS bucket: one key per app holding its whole registration. */
  app: (appId: string): string => `app.${escapeToken(appId)}`,
  lease: (partition: number): string => `partition.${checkPartition(partition)}`,
  partitionCount: "meta.partitions",
  cronLeader: "cron",
  snapshot: (runId: string): string => `snap.${checkToken("runId", runId)}`,
  active: (partition: number, runId: string): string =>
    `p${checkPartition(partition)}.${checkToken("runId", runId)}`,
  activeInPartition: (partition: number): string => `p${checkPartition(partition)}.>`,
  /** ACTIVE bucket, runs parked on timers or waits only: not resumed on takeover (their timers are). */
  parked: (partition: number, runId: string): string =>
    `q${checkPartition(partition)}.${checkToken("runId", runId)}`,
  eventRuns: (eventId: string): string => `evt.${escapeToken(eventId)}`,
  /** IDEMPOTENCY bucket: one key per (function, key value), kept 24 h. */
  idempotency: (fnId: string, keyHash: string): string =>
    `${escapeToken(fnId)}.${checkToken("key", keyHash)}`,
  /** FLOW bucket: flow-control state (`rate`, `throttle`, `singleton`) of a function and key value. */
  flow: (kind: string, fnId: string, keyHash: string): string =>
    `${checkToken("kind", kind)}.${escapeToken(fnId)}.${checkToken("key", keyHash)}`,
  /** BATCHES bucket: the open batch of a function for one key value. */
  batch: (fnId: string, keyHash: string): string => `${escapeToken(fnId)}.${checkToken("key", keyHash)}`,
  /** PAUSES bucket: one key per paused function. */
  pause: (fnId: string): string => `fn.${escapeToken(fnId)}`,
  /** WAITS bucket: `<event name>.<runId>.<waitId>`, so a watch can be narrowed to one event name. */
  wait: (eventName: string, runId: string, waitId: string): string =>
    `${escapeToken(eventName)}.${checkToken("runId", runId)}.${escapeToken(waitId)}`,
} as const;
