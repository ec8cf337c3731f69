export { ActiveStore } from "./active-store.ts";
export {
  type BusSubscription,
  maxPayload,
  publishCore,
  request,
  type SubscribeOptions,
  subscribe,
} from "./bus.ts";
export {
  ConnectionLostError,
  type ConnectionOptions,
  connectNats,
  type Nats,
  type NatsAuthSettings,
  natsAuthOptions,
  UnsupportedServerError,
} from "./connection.ts";
export {
  ACK_WAIT_MS,
  type ConsumerLag,
  durableConsumerLags,
  InProgress,
  inboxConsumer,
  inboxConsumerState,
  matcherAckFloor,
  matcherConsumer,
  PULL_EXPIRES_MS,
} from "./consumers.ts";
export {
  afterFailure,
  type DeadLetter,
  type DeadLetterFields,
  deadLetterJson,
  deadLetterMessage,
  isPoison,
  POISON_DELIVERIES,
  settleFailure,
} from "./dead-letters.ts";
export type { BusMessage, Delivery, MessageHeaders } from "./delivery.ts";
export { isConflict, isNotFound } from "./errors.ts";
export { EventLog, type SequencedEvent } from "./event-log.ts";
export { type EventRunsRecord, EventRunsStore } from "./event-runs-store.ts";
export { allowMessageTtl, ttlHeaderValue, writeExpiring } from "./expiring-kv.ts";
export { FlowStore } from "./flow-store.ts";
export { IdempotencyStore } from "./idempotency-store.ts";
export { IdleTimeoutError, idleTimeout, withTimeout } from "./idle-timeout.ts";
export { BatchStore, DebounceStore, JsonStore } from "./json-store.ts";
export { KvFollower, type KvFollowerOptions } from "./kv-follower.ts";
export { kvDelete, kvPut } from "./kv-publish.ts";
export type { CasResult, FollowHandlers, Versioned } from "./kv-store.ts";
export {
  type LeaseEvents,
  type LeaseLoss,
  type LeaseOptions,
  type LeaseValue,
  leaseMarginMs,
  PartitionLeases,
  PartitionLoadError,
} from "./leases.ts";
export { Membership } from "./membership.ts";
export { OperationLog, PausedFunctions, PauseStore, PauseWatchStoppedError } from "./operations.ts";
export { DEFAULT_PARTITIONS, partitionCount, storedPartitionCount } from "./partitions.ts";
export { Publisher, type PublishOptions, type PublishResult, PublishTimeoutError } from "./publisher.ts";
export { type LoadedRun, readRun, type SnapshotReader } from "./read-run.ts";
export { type ChannelRead, RealtimeChannels } from "./realtime.ts";
export { type RegisteredFunction, Registry } from "./registry.ts";
export { RollupLog } from "./rollups.ts";
export { readRunIndex } from "./run-index.ts";
export { type LogMessage, RunLog } from "./run-log.ts";
export { MetadataStore, MetadataTooLargeError, readRunMetadata, updateRunMetadata } from "./run-metadata.ts";
export {
  DEFAULT_RUN_SHARDS,
  ensureRunStreams,
  type RunLocation,
  type RunsLayout,
  readRunsLayout,
  runLocation,
  runStreams,
} from "./runs-layout.ts";
export { SnapshotStore, type StoredSnapshot } from "./snapshot-store.ts";
export { type Page, type PagedMessage, pageBackwards } from "./stream-pages.ts";
export { ensureStreams, type JetstepBuckets, openBuckets, type StreamOptions } from "./streams.ts";
export { eraseKvKey, listKvKeys, ReadPath, scanKvKeys, scanSubjects } from "./subject-scan.ts";
export { type ListedStatus, SyncStatusStore } from "./sync-status-store.ts";
export { type QueuedRun, ThrottleQueue, throttleToken } from "./throttle-queue.ts";
export { type StoredTimer, TimerStore } from "./timers.ts";
export { WaitsStore } from "./waits-store.ts";
export {
  type CallLimits,
  callWorkerOverNats,
  DEFAULT_HEARTBEAT_MISSES,
  DEFAULT_WORKER_HEARTBEAT_MS,
  type WorkerOutcome,
} from "./worker-calls.ts";
