/**
 * Composes the services in one process (what `jetstep dev` runs): connect to NATS, create
 * streams and buckets, then gateway + matcher + executor, plus the periodic app sync.
 */
import { randomUUID } from "node:crypto";
import { type AppUrlPolicy, appUrlPolicy } from "@jetstep/core";
import { buildCron } from "@jetstep/cron";
import { buildExecutor, defaultExecutorConfig, type Executor, type ExecutorConfig } from "@jetstep/executor";
import {
  buildGateway,
  defaultGatewayConfig,
  type GatewayConfig,
  listSyncStatuses,
  recordSync,
  recordSyncIfListed,
  SYNC_GIVE_UP_AFTER,
  type SyncStatus,
  standbySince,
  syncAppUrl,
} from "@jetstep/gateway";
import {
  type ConnectionOptions,
  connectNats,
  ensureStreams,
  type JetstepBuckets,
  type Nats,
  openBuckets,
  Registry,
  SyncStatusStore,
} from "@jetstep/jetstream";

import { buildMatcher, type Matcher } from "@jetstep/matcher";
import { type Logger, type Metrics, startMetrics } from "@jetstep/telemetry";
import { UI_DIR } from "@jetstep/ui";
import { startDiscovery } from "./discovery.ts";

export const SERVICES = ["gateway", "matcher", "executor", "cron"] as const;
export type Service = (typeof SERVICES)[number];

export interface RuntimeOptions {
  /** Where an exported trace can be seen, `{traceId}` in it (`JETSTEP_TRACE_URL`; the UI links there). */
  traceUrl?: string;
  /** Which services run in this process (default: all). */
  services?: readonly Service[];
  /** Stream and bucket replicas (1 in dev, 3 on a cluster). */
  replicas?: number;
  /** Extra NATS connection options (credentials, TLS). */
  natsOptions?: Omit<ConnectionOptions, "servers">;
  /** Production: calls to apps are signed and registrations must carry the key. */
  signingKey?: string;
  /** API keys for the REST API and UI: read and operate, or read only. */
  apiKeys?: string[];
  readApiKeys?: string[];
  /** App URLs that may be synced, registered and called (`--allow-app-url`); absent: any (dev). */
  allowAppUrls?: string[];
  /** Browser origins that may send events with an event key (`--cors-origin`). */
  corsOrigins?: string[];
  natsUrl: string | string[];
  host: string;
  port: number;
  appUrls: string[];
  syncIntervalMs: number;
  retryIntervalMs?: number;
  /** A durable endpoint's run goes async after this long without a report (default 10 min). */
  endpointSyncTimeoutMs?: number;
  /** Executor safety-net interval for due runs (ms; 0 off); default 30 s. */
  reconcileMs?: number;
  /** How long the executor fails to move a run on before it lists it as stuck; default 60 s. */
  stuckAfterMs?: number;
  /** How often the executor appends its per-function counts to ROLLUPS (charts); default 10 s. */
  rollupFlushMs?: number;
  leaseTtlMs?: number;
  partitions?: number;
  /** Run log streams of a new store (default 4; an existing store keeps its count). */
  runShards?: number;
  eventKeys?: string[];
  /** `jetstep dev` without `-u`: probe these local ports for apps every `intervalMs`. */
  discovery?: { intervalMs: number; ports: readonly number[] };
  log: Logger;
  /** `service.name` of the metrics pushed over OTLP (default `jetstep`). */
  serviceName?: string;
}

export interface Runtime {
  gatewayUrl: string;
  nats: Nats;
  executor: Executor;
  /** This process's metrics (the gateway's `GET /metrics`, and `--health-port`'s). */
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const services = new Set<Service>(opts.services ?? SERVICES);
  const replicas = opts.replicas ?? 1;
  const nats = await connectNats({ ...opts.natsOptions, servers: opts.natsUrl, name: "jetstep" });
  await ensureStreams(nats.jsm, {
    replicas,
    ...(opts.runShards !== undefined ? { runShards: opts.runShards } : {}),
  });
  const buckets = await openBuckets(nats, { replicas });
  const processId = `jetstep-${randomUUID().slice(0, 8)}`;
  const metrics = await startMetrics({ serviceName: opts.serviceName ?? "jetstep" });
  const stops: (() => Promise<void>)[] = [];
  let gatewayUrl = "";
  const registry = await sharedRegistry(services, buckets, opts.log);

  if (services.has("matcher")) {
    const matcher: Matcher = buildMatcher({
      nats,
      buckets,
      log: opts.log,
      partitions: opts.partitions ?? 16,
      ...(registry ? { registry } : {}),
    });
    await matcher.start();
    stops.push(() => matcher.stop());
  }
  const executor = buildExecutor({
    nats,
    buckets,
    log: opts.log,
    config: executorConfig(opts, processId),
    metrics: metrics.run,
  });
  if (services.has("executor")) {
    await executor.start();
    stops.push(() => executor.stop(true));
  }
  if (services.has("cron")) {
    const cron = buildCron({
      nats,
      buckets,
      log: opts.log,
      owner: processId,
      leaseTtlMs: opts.leaseTtlMs ?? 10_000,
      ...(registry ? { registry } : {}),
    });
    await cron.start();
    stops.push(() => cron.stop());
  }
  if (services.has("gateway")) {
    const gateway = await buildGateway({
      nats,
      buckets,
      log: opts.log,
      metrics,
      // Checkpoints of runs this process's executor drives skip the NATS round trip.
      ...(services.has("executor") ? { localCheckpoints: (p, req) => executor.checkpointHere(p, req) } : {}),
      config: gatewayConfig(opts),
      ...(registry ? { registry } : {}),
    });
    const address = await gateway.listen({ host: opts.host, port: opts.port });
    gatewayUrl = address.replace("[::1]", "localhost");
    stops.unshift(() => gateway.close());
    stops.unshift(startSyncing(opts, new SyncStatusStore<SyncStatus>(buckets.functions, nats.jsm)));
  }
  // After the services that read it.
  if (registry) stops.push(async () => registry.stop());
  return {
    gatewayUrl,
    nats,
    executor,
    metrics,
    async stop() {
      for (const stop of stops) await stop();
      await metrics.shutdown();
      await nats.close();
    },
  };
}

/**
 * One FUNCTIONS registry for the gateway, matcher and cron of this process (none when at most one
 * of them runs here): an app registered through the gateway applies to it at once, so the matcher
 * matches it from the next event on, and the bucket is watched once. Each with its own watch, the
 * matcher took a registration later than the gateway had acknowledged it; under load, the first
 * events sent after a sync started no run (the malformed-input corpus test, beside a CPU hog).
 * Services in separate processes still see a registration once their watch delivers it.
 */
async function sharedRegistry(
  services: ReadonlySet<Service>,
  buckets: JetstepBuckets,
  log: Logger,
): Promise<Registry | undefined> {
  if ((["gateway", "matcher", "cron"] as const).filter((s) => services.has(s)).length < 2) return undefined;
  const registry = new Registry(buckets.functions, (message, err) =>
    log.warn({ err, bucket: "functions" }, message),
  );
  await registry.watch();
  return registry;
}

function executorConfig(opts: RuntimeOptions, processId: string): ExecutorConfig {
  return {
    ...defaultExecutorConfig(processId),
    ...(opts.partitions ? { partitions: opts.partitions } : {}),
    ...(opts.leaseTtlMs ? { leaseTtlMs: opts.leaseTtlMs } : {}),
    ...(opts.retryIntervalMs !== undefined ? { retryIntervalMs: opts.retryIntervalMs } : {}),
    ...(opts.reconcileMs !== undefined ? { reconcileMs: opts.reconcileMs } : {}),
    ...(opts.stuckAfterMs !== undefined ? { stuckAfterMs: opts.stuckAfterMs } : {}),
    ...(opts.rollupFlushMs !== undefined ? { rollupFlushMs: opts.rollupFlushMs } : {}),
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
    ...(opts.allowAppUrls ? { allowAppUrls: opts.allowAppUrls } : {}),
  };
}

/** The periodic sync of app URLs and, when asked, the discovery of local apps; returns their stop. */
function startSyncing(opts: RuntimeOptions, statuses: SyncStatusStore<SyncStatus>): () => Promise<void> {
  const policy = appUrlPolicy(opts.allowAppUrls);
  const sync = startAppSync(opts.appUrls, opts.syncIntervalMs, opts.log, statuses, policy, opts.signingKey);
  const discovery =
    opts.discovery &&
    startDiscovery({ ...opts.discovery, skip: new Set([opts.port]), statuses, log: opts.log });
  return async () => {
    await discovery?.stop();
    await sync.stop();
  };
}

/**
 * PUTs every app URL now and every `intervalMs` — the `-u` URLs and those added through the API or
 * the UI — so apps that start later get synced; each outcome is recorded for the API (`sync`).
 */
export function startAppSync(
  urls: string[],
  intervalMs: number,
  log: Logger,
  statuses: SyncStatusStore<SyncStatus>,
  appUrls: AppUrlPolicy = appUrlPolicy(undefined),
  signingKey?: string,
): { stop(): Promise<void> } {
  const last = new Map<string, SyncStatus>();
  /** Failed syncs in a row per URL, and when each failing URL is tried next (backoff). */
  const failures = new Map<string, number>();
  const nextAt = new Map<string, number>();
  let running: Promise<void> | undefined;
  let stopped = false;
  const syncAll = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    running ??= syncPass().finally(() => {
      running = undefined;
    });
    return running;
  };
  const syncPass = async () => {
    const recorded = await listSyncStatuses(statuses).catch(() => [] as SyncStatus[]);
    const given = new Set(urls);
    // A URL added through the API that kept failing is left until someone syncs it by hand.
    const active = recorded.filter((st) => given.has(st.url) || (st.failures ?? 0) < SYNC_GIVE_UP_AFTER);
    const all = [...new Set([...urls, ...active.map((st) => st.url)])];
    await Promise.all(
      all.map(async (url) => {
        const stored = recorded.find((st) => st.url === url);
        // What the bucket holds decides whether to write, not what this loop wrote last: a sync by
        // hand may have replaced it since, and an outcome equal to this loop's last one would then
        // never be written (the failure count reset by the sync by hand and never stored again, so
        // reset on every pass: the URL never backed off, never given up).
        const previous = stored ?? last.get(url);
        // Synced (or added again) by hand since it last failed here (its status has no failure
        // count): counted afresh, and tried now.
        if (stored && stored.failures === undefined && (failures.get(url) ?? 0) > 0) {
          failures.delete(url);
          nextAt.delete(url);
        }
        // After a restart, a failing URL goes on from its stored count and time.
        if (!failures.has(url) && stored?.failures) {
          failures.set(url, stored.failures);
          if (stored.retryAt !== undefined) nextAt.set(url, stored.retryAt);
        }
        if ((nextAt.get(url) ?? 0) > Date.now()) return;
        const outcome = await attemptSync(url, statuses, appUrls, signingKey);
        const failed = (failures.get(url) ?? 0) + 1;
        // On standby (its app is held by another URL): no failure, tried next interval.
        const status =
          outcome.standby ?? syncStatusAfter(url, outcome, failed, given.has(url), intervalMs, Date.now());
        if (stored?.discovered) status.discovered = true;
        failures.set(url, status.failures ?? 0);
        if (status.retryAt !== undefined) nextAt.set(url, status.retryAt);
        else nextAt.delete(url);
        logSync(log, status, last.get(url));
        last.set(url, status);
        if (outcome.standby) return; // recorded by its registration
        // A URL added through the API may be removed while its sync is under way: recorded only
        // while still listed, so it stays removed.
        if (given.has(url)) await recordSync(statuses, status, previous).catch(() => undefined);
        else if (!sameSync(previous, status)) await recordSyncIfListed(statuses, status).catch(() => false);
      }),
    );
  };
  void syncAll();
  const timer = setInterval(() => void syncAll(), intervalMs);
  timer.unref();
  return {
    // A pass under way finishes first: it reads and writes the FUNCTIONS bucket, and a listing
    // whose connection closes under it leaves its consumer's heartbeat timer running.
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** One sync of `url`: its outcome, with the standby status its registration recorded, if any. */
async function attemptSync(
  url: string,
  statuses: SyncStatusStore<SyncStatus>,
  appUrls: AppUrlPolicy,
  signingKey: string | undefined,
): Promise<{ ok: boolean; error?: string; standby?: SyncStatus }> {
  const refused = appUrls.problem(url);
  if (refused) return { ok: false, error: refused };
  const since = Date.now();
  const outcome = await syncAppUrl(url, { signingKey });
  const standby = outcome.ok ? undefined : await standbySince(statuses, url, since);
  return standby ? { ...outcome, standby } : outcome;
}

/** The longest wait between syncs of a failing `-u` URL, in sync intervals (an app started later is found soon). */
const SYNC_BACKOFF_GIVEN_MAX = 6;
/** The longest wait between syncs of a failing URL added through the API or the UI, in sync intervals. */
const SYNC_BACKOFF_MAX = 60;

/**
 * How long a URL that failed `failed` times in a row waits before its next sync: the sync interval,
 * doubled per failure after the first, up to 6 intervals for a `-u` URL (30 s in dev) and 60 for
 * one added through the API (5 min in dev).
 */
export function syncBackoffMs(failed: number, intervalMs: number, given: boolean): number {
  const steps = Math.min(Math.max(0, failed - 1), 20);
  return intervalMs * Math.min(2 ** steps, given ? SYNC_BACKOFF_GIVEN_MAX : SYNC_BACKOFF_MAX);
}

/**
 * A URL's sync status after an attempt (`failed`: the failures in a row this one would make). A
 * failing URL gets its failure count and when it is tried next; one added through the API that
 * failed SYNC_GIVE_UP_AFTER times is given up (no `retryAt`). A `-u` URL is never given up.
 */
export function syncStatusAfter(
  url: string,
  outcome: { ok: boolean; error?: string },
  failed: number,
  given: boolean,
  intervalMs: number,
  now: number,
): SyncStatus {
  if (outcome.ok) return { url, ok: true, at: now };
  const givenUp = !given && failed >= SYNC_GIVE_UP_AFTER;
  const error = givenUp
    ? `${outcome.error} (not retried after ${failed} failures in a row: sync it again to resume)`
    : outcome.error;
  return {
    url,
    ok: false,
    ...(error !== undefined ? { error } : {}),
    at: now,
    failures: failed,
    ...(givenUp ? {} : { retryAt: now + syncBackoffMs(failed, intervalMs, given) }),
  };
}

/** Whether two sync outcomes say the same (a status is stored only when what it says changed). */
function sameSync(a: SyncStatus | undefined, b: SyncStatus): boolean {
  return a !== undefined && a.ok === b.ok && a.error === b.error && (a.failures ?? 0) === (b.failures ?? 0);
}

/** One line when a URL starts or stops syncing, or fails differently; never one per attempt. */
function logSync(log: Logger, status: SyncStatus, before: SyncStatus | undefined): void {
  if (status.heldBy) {
    if (!before?.heldBy)
      log.info({ url: status.url, heldBy: status.heldBy }, `app at ${status.url} on standby`);
    return;
  }
  if (status.ok && !before?.ok) log.info({ url: status.url }, `app at ${status.url} synced`);
  if (status.ok || before?.error === status.error) return;
  if (status.retryAt === undefined)
    log.warn({ url: status.url, why: status.error, failures: status.failures }, "app sync given up");
  else log.warn({ url: status.url, why: status.error }, "app sync failed; retrying with backoff");
}

/** The gateway's settings from the runtime's options. */
function gatewayConfig(opts: RuntimeOptions): GatewayConfig {
  return {
    ...defaultGatewayConfig(),
    eventKeys: opts.eventKeys ?? [],
    uiDir: UI_DIR,
    host: opts.host,
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
    ...(opts.apiKeys?.length ? { apiKeys: opts.apiKeys } : {}),
    ...(opts.readApiKeys?.length ? { readApiKeys: opts.readApiKeys } : {}),
    ...(opts.allowAppUrls ? { allowAppUrls: opts.allowAppUrls } : {}),
    ...(opts.corsOrigins?.length ? { corsOrigins: opts.corsOrigins } : {}),
    ...(opts.endpointSyncTimeoutMs ? { endpointSyncTimeoutMs: opts.endpointSyncTimeoutMs } : {}),
    ...(opts.traceUrl ? { traceUrl: opts.traceUrl } : {}),
  };
}
