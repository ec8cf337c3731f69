export type { JsMsg, StoredMsg } from "@nats-io/jetstream";
export type { KV } from "@nats-io/kv";
// Core NATS pieces services use directly (worker calls): re-exported so only this package imports @nats-io.
export {
  createInbox,
  headers,
  InvalidArgumentError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
export {
  type ConnectionOptions,
  connectNats,
  type Nats,
  type NatsAuthSettings,
  natsAuthOptions,
  UnsupportedServerError,
} from "./connection.ts";
export {
  ACK_WAIT_MS,
  InProgress,
  inboxConsumer,
  inboxConsumerState,
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
export { isConflict, isNotFound } from "./errors.ts";
export { EventLog, type SequencedEvent } from "./event-log.ts";
export { allowMessageTtl, ttlHeaderValue, writeExpiring } from "./expiring-kv.ts";
export { IdleTimeoutError, idleTimeout, withTimeout } from "./idle-timeout.ts";
export { KvFollower, type KvFollowerOptions } from "./kv-follower.ts";
export { kvDelete, kvPut } from "./kv-publish.ts";
export {
  type LeaseEvents,
  type LeaseOptions,
  type LeaseValue,
  leaseMarginMs,
  PartitionLeases,
  PartitionLoadError,
} from "./leases.ts";
export { Membership } from "./membership.ts";
export { DEFAULT_PARTITIONS, partitionCount } from "./partitions.ts";
export { Publisher, type PublishOptions, type PublishResult, PublishTimeoutError } from "./publisher.ts";
export { type LoadedRun, readRun, type StoredSnapshot } from "./read-run.ts";
export { type ChannelRead, RealtimeChannels } from "./realtime.ts";
export { type RegisteredFunction, Registry } from "./registry.ts";
export { type LogMessage, RunLog } from "./run-log.ts";
export { MetadataTooLargeError, readRunMetadata, updateRunMetadata } from "./run-metadata.ts";
export {
  DEFAULT_RUN_SHARDS,
  ensureRunStreams,
  type RunLocation,
  type RunsLayout,
  readRunsLayout,
  runLocation,
  runStreams,
} from "./runs-layout.ts";
export { ensureStreams, type JetstepBuckets, openBuckets, type StreamOptions } from "./streams.ts";
export { eraseKvKey, listKvKeys, ReadPath, scanKvKeys, scanSubjects } from "./subject-scan.ts";
export { type QueuedRun, ThrottleQueue, throttleToken } from "./throttle-queue.ts";
export { type StoredTimer, TimerStore } from "./timers.ts";
