/**
 * The HTTP gateway (fastify): event ingest, app registration and the REST API. Stateless: it
 * talks to JetStream only, so any number can run behind a load balancer.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { type AppUrlPolicy, appUrlPolicy, HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from "@jetstep/core";
import {
  ActiveStore,
  durableConsumerLags,
  EventLog,
  EventRunsStore,
  type JetstepBuckets,
  MetadataStore,
  type Nats,
  OperationLog,
  PauseStore,
  Publisher,
  RealtimeChannels,
  Registry,
  RollupLog,
  RunLog,
  SnapshotStore,
  SyncStatusStore,
} from "@jetstep/jetstream";
import { type Logger, type Metrics, noMetrics } from "@jetstep/telemetry";
import Fastify, { type FastifyInstance, LogController, type RawServerDefault } from "fastify";
import { registerApiAuth } from "./api-auth.ts";
import { appHolds, type SyncStatus } from "./app-sync.ts";
import { registerAppRoutes } from "./apps-api.ts";
import { registerBulkRoutes } from "./bulk-api.ts";
import { registerCancelRoutes } from "./cancel-api.ts";
import { type CheckpointRouteDeps, registerCheckpointRoutes } from "./checkpoint-api.ts";
import { registerEndpointRoutes } from "./endpoint-api.ts";
import { registerEventRoutes } from "./events-api.ts";
import { registerFunctionRoutes } from "./functions-api.ts";
import { errorAnswer, type HttpTimeouts, serverOptions } from "./http-edge.ts";
import { registerIngestRoutes } from "./ingest-api.ts";
import { registerListRoutes } from "./list-api.ts";
import { maxMessageBytes } from "./message-size.ts";
import { registerMetricsRoute } from "./metrics-api.ts";
import { startNatsIngest } from "./nats-ingest.ts";
import { startNatsRegister } from "./nats-register.ts";
import { registerOperateRoutes } from "./operate-api.ts";
import { registerRealtimeRoutes } from "./realtime-api.ts";
import type { RegisterDeps } from "./register-app.ts";
import { registerRunViewRoute } from "./run-view-api.ts";
import { registerTraceRoute } from "./trace-api.ts";
import { registerUiRoutes } from "./ui-routes.ts";

/** The gateway's settings (its body limits are core's MaxBodyBytes, per route). */
export interface GatewayConfig extends HttpTimeouts {
  /** Accepted event keys; empty = any key (dev). Checked before the body is read. */
  eventKeys: string[];
  /** Directory of the dev UI's static files; no UI when absent. */
  uiDir?: string;
  /** Where an exported trace can be seen, with `{traceId}` (the run view's trace tab links there). */
  traceUrl?: string;
  /** Production: apps must prove they hold this key to register. */
  signingKey?: string;
  /** API keys that may read and operate (`--api-key`); the signing key may too. */
  apiKeys?: string[];
  /** API keys that may only read (`--read-api-key`). */
  readApiKeys?: string[];
  /** The address the gateway listens on (loopback-only: requests must name a loopback host). */
  host?: string;
  /** App URLs that may be synced and registered (`--allow-app-url`); absent: any (dev). */
  allowAppUrls?: string[];
  /** Browser origins that may send events to `POST /e/:key` (`--cors-origin`). */
  corsOrigins?: string[];
  /** A durable endpoint's run goes async after this long without a report (default 10 min). */
  endpointSyncTimeoutMs?: number;
}

/** A checkpoint recorder in the same process (an executor's `checkpointHere`). */
export type LocalCheckpoints = NonNullable<CheckpointRouteDeps["local"]>;

export { hashSigningKey } from "@jetstep/core";

export interface GatewayDeps {
  nats: Nats;
  buckets: JetstepBuckets;
  log: Logger;
  config: GatewayConfig;
  now?: () => number;
  random?: () => number;
  /** An executor running in this process takes checkpoints of its partitions without NATS. */
  localCheckpoints?: LocalCheckpoints;
  /** This process's metrics: `GET /metrics` serves them; events accepted are counted. */
  metrics?: Pick<Metrics, "run" | "prometheusText">;
  /**
   * The registry of this process (`sharedRegistry`), watched and stopped by its maker; else its
   * own. Shared with a matcher, an app registered here is matched from the next event on.
   */
  registry?: Registry;
}

export const defaultGatewayConfig = (): GatewayConfig => ({
  eventKeys: [],
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
});

type GatewayServer = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

export async function buildGateway(deps: GatewayDeps): Promise<GatewayServer> {
  const app = Fastify({
    ...serverOptions(deps.config),
    forceCloseConnections: true,
    loggerInstance: deps.log.child({ svc: "gateway" }),
    logController: new LogController({ disableRequestLogging: true }),
  });
  const shared = await openShared(deps);
  const { publisher, registry, now, random, run } = shared;
  const syncStatuses = new SyncStatusStore<SyncStatus>(deps.buckets.functions, deps.nats.jsm);
  const appUrls = appUrlPolicy(deps.config.allowAppUrls);
  const registerDeps: RegisterDeps = {
    registry,
    log: deps.log,
    appUrls,
    now,
    signingKey: deps.config.signingKey,
    maxRecordBytes: () => maxMessageBytes(deps.nats),
    holds: appHolds(syncStatuses, now),
  };
  listenOnNats(app, deps, shared, registerDeps);
  acceptRequests(app, deps);

  registerIngestRoutes(app, {
    publisher,
    nats: deps.nats,
    log: deps.log,
    now,
    random,
    eventKeys: deps.config.eventKeys,
    metrics: run,
  });
  registerAppRoutes(app, {
    registry,
    syncStatuses,
    appUrls,
    register: registerDeps,
    signingKey: deps.config.signingKey,
    log: deps.log,
    now,
  });
  registerFunctionRoutes(app, {
    registry,
    rollups: new RollupLog(deps.nats, publisher),
    pauses: shared.pauses,
    now,
  });
  registerCallerRoutes(app, deps, shared, appUrls);
  registerRunRoutes(app, deps, shared);
  if (deps.metrics)
    registerMetricsRoute(app, {
      metrics: deps.metrics,
      consumerLags: () => durableConsumerLags(deps.nats.jsm),
    });
  if (deps.config.uiDir) registerUiRoutes(app, deps.config.uiDir);
  return app;
}

/** What the routes share: one publisher, the stores written through it, the clock and randomness. */
interface Shared {
  publisher: Publisher;
  runLog: RunLog;
  snapshots: SnapshotStore;
  registry: Registry;
  pauses: PauseStore;
  now: () => number;
  random: () => number;
  run: Metrics["run"];
  /** The signing key, when there is one, spread into the deps of the routes that check it. */
  signed: { signingKey?: string };
}

/** Opens the shared stores; resolves once the registry has read the FUNCTIONS bucket. */
async function openShared(deps: GatewayDeps): Promise<Shared> {
  const publisher = new Publisher(deps.nats.nc);
  const registry =
    deps.registry ??
    new Registry(deps.buckets.functions, (message, err) =>
      deps.log.warn({ err, svc: "gateway", bucket: "functions" }, message),
    );
  if (!deps.registry) await registry.watch();
  const { signingKey } = deps.config;
  return {
    publisher,
    runLog: new RunLog(deps.nats.jsm, publisher),
    snapshots: new SnapshotStore(deps.buckets.snapshots),
    registry,
    pauses: new PauseStore(deps.buckets.pauses),
    now: deps.now ?? Date.now,
    random: deps.random ?? Math.random,
    run: deps.metrics?.run ?? noMetrics,
    signed: signingKey ? { signingKey } : {},
  };
}

/**
 * Takes events and registrations over NATS as well as HTTP; stops them, the registry's watch and
 * the publisher when the server closes.
 */
function listenOnNats(
  app: GatewayServer,
  deps: GatewayDeps,
  shared: Shared,
  registerDeps: RegisterDeps,
): void {
  const ingest = startNatsIngest({
    nats: deps.nats,
    publisher: shared.publisher,
    log: deps.log,
    now: shared.now,
    random: shared.random,
    eventKeys: deps.config.eventKeys,
    metrics: shared.run,
  });
  const natsRegister = startNatsRegister({ ...registerDeps, nats: deps.nats });
  app.addHook("onClose", async () => {
    natsRegister.stop();
    ingest.stop();
    if (!deps.registry) shared.registry.stop();
    shared.publisher.close();
  });
}

/** How every request is taken in: its body left raw, its caller checked, its errors answered. */
function acceptRequests(app: GatewayServer, deps: GatewayDeps): void {
  // Bodies are parsed by the routes themselves, so errors can name what is wrong.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  registerApiAuth(app, {
    ...(deps.config.apiKeys ? { apiKeys: deps.config.apiKeys } : {}),
    ...(deps.config.readApiKeys ? { readApiKeys: deps.config.readApiKeys } : {}),
    ...(deps.config.signingKey ? { signingKey: deps.config.signingKey } : {}),
    ...(deps.config.host ? { host: deps.config.host } : {}),
    ...(deps.config.corsOrigins ? { corsOrigins: deps.config.corsOrigins } : {}),
  });

  app.setErrorHandler((err, req, reply) => {
    const { status, error } = errorAnswer(err, req);
    if (status >= 500) deps.log.error({ err }, "request failed");
    void reply.status(status).send({ status, error });
  });
}

/** The routes an app's code calls while its runs go on: checkpoints, durable endpoints, realtime. */
function registerCallerRoutes(
  app: GatewayServer,
  deps: GatewayDeps,
  shared: Shared,
  appUrls: AppUrlPolicy,
): void {
  const { runLog, snapshots, now, signed } = shared;
  const checkpointDeps = {
    nats: deps.nats,
    leases: deps.buckets.leases,
    ...(deps.localCheckpoints ? { local: deps.localCheckpoints } : {}),
    ...signed,
  };
  registerCheckpointRoutes(app, checkpointDeps);
  registerEndpointRoutes(app, {
    ...checkpointDeps,
    runLog,
    snapshots,
    appUrls,
    now,
    ...(deps.config.endpointSyncTimeoutMs ? { syncTimeoutMs: deps.config.endpointSyncTimeoutMs } : {}),
  });
  registerRealtimeRoutes(app, {
    channels: new RealtimeChannels(deps.nats.js, shared.publisher),
    runLog,
    snapshots,
    ...signed,
  });
}

/** The REST API over runs (listing, reading, cancelling, operating, in bulk) and events. */
function registerRunRoutes(app: GatewayServer, deps: GatewayDeps, shared: Shared): void {
  const { publisher, runLog, snapshots, registry, pauses, now, random, signed } = shared;
  const metadata = new MetadataStore(deps.buckets.metadata);
  const active = new ActiveStore(deps.buckets.active, deps.nats);
  const operations = new OperationLog(deps.nats, publisher);
  registerCancelRoutes(app, { active, snapshots, runLog, publisher, operations, ...signed, now, random });
  registerListRoutes(app, deps.nats, runLog);
  registerTraceRoute(app, {
    runLog,
    snapshots,
    ...(deps.config.traceUrl ? { traceUrl: deps.config.traceUrl } : {}),
  });
  const operate = { nats: deps.nats, metadata, snapshots, runLog, publisher, registry, now, random };
  registerOperateRoutes(app, operate);
  registerBulkRoutes(app, { ...operate, operations, pauses, log: deps.log, ...signed });
  registerRunViewRoute(app, { nats: deps.nats, runLog, snapshots, metadata });
  registerEventRoutes(app, {
    events: new EventLog(deps.nats.jsm),
    eventRuns: new EventRunsStore(deps.buckets.eventRuns),
    runLog,
    snapshots,
  });
}
