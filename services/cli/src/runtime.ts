/**
 * Composes the services in one process (what `jetstep dev` runs): connect to NATS, create
 * streams and buckets, then gateway + matcher + executor, plus the periodic app sync.
 */
import { randomUUID } from "node:crypto";
import { buildCron } from "@jetstep/cron";
import { buildExecutor, defaultExecutorConfig, type Executor } from "@jetstep/executor";
import {
  buildGateway,
  defaultGatewayConfig,
  listSyncStatuses,
  recordSync,
  type SyncStatus,
  syncAppUrl,
} from "@jetstep/gateway";
import { connectNats, ensureStreams, type KV, type Nats, openBuckets } from "@jetstep/jetstream";
import { buildMatcher, type Matcher } from "@jetstep/matcher";
import type { Logger } from "@jetstep/telemetry";
import { UI_DIR } from "@jetstep/ui";

export interface RuntimeOptions {
  natsUrl: string;
  host: string;
  port: number;
  appUrls: string[];
  syncIntervalMs: number;
  retryIntervalMs?: number;
  leaseTtlMs?: number;
  partitions?: number;
  eventKeys?: string[];
  log: Logger;
}

export interface Runtime {
  gatewayUrl: string;
  nats: Nats;
  executor: Executor;
  stop(): Promise<void>;
}

export async function startRuntime(opts: RuntimeOptions): Promise<Runtime> {
  const nats = await connectNats({ servers: opts.natsUrl, name: "jetstep" });
  await ensureStreams(nats.jsm, { replicas: 1 });
  const buckets = await openBuckets(nats, { replicas: 1 });
  const executorId = `jetstep-${randomUUID().slice(0, 8)}`;
  const gateway = await buildGateway({
    nats,
    buckets,
    log: opts.log,
    config: { ...defaultGatewayConfig(), eventKeys: opts.eventKeys ?? [], uiDir: UI_DIR },
  });
  const matcher: Matcher = buildMatcher({ nats, buckets, log: opts.log, partitions: opts.partitions ?? 16 });
  const executor = buildExecutor({
    nats,
    buckets,
    log: opts.log,
    config: {
      ...defaultExecutorConfig(executorId),
      ...(opts.partitions ? { partitions: opts.partitions } : {}),
      ...(opts.leaseTtlMs ? { leaseTtlMs: opts.leaseTtlMs } : {}),
      ...(opts.retryIntervalMs !== undefined ? { retryIntervalMs: opts.retryIntervalMs } : {}),
    },
  });
  const cron = buildCron({
    nats,
    buckets,
    log: opts.log,
    owner: executorId,
    leaseTtlMs: opts.leaseTtlMs ?? 10_000,
  });
  await matcher.start();
  await executor.start();
  await cron.start();
  const address = await gateway.listen({ host: opts.host, port: opts.port });
  const gatewayUrl = address.replace("[::1]", "localhost");
  const sync = startAppSync(opts.appUrls, opts.syncIntervalMs, opts.log, buckets.functions);
  return {
    gatewayUrl,
    nats,
    executor,
    async stop() {
      sync.stop();
      await gateway.close();
      await cron.stop();
      await matcher.stop();
      await executor.stop(true);
      await nats.close();
    },
  };
}

/**
 * PUTs every app URL now and every `intervalMs` — the `-u` URLs and those added through the API or
 * the UI — so apps that start later get synced; each outcome is recorded for the API (`sync`).
 */
export function startAppSync(urls: string[], intervalMs: number, log: Logger, kv: KV): { stop(): void } {
  const last = new Map<string, SyncStatus>();
  let running = false;
  const syncAll = async () => {
    if (running) return;
    running = true;
    try {
      const recorded = await listSyncStatuses(kv).catch(() => [] as SyncStatus[]);
      const all = [...new Set([...urls, ...recorded.map((st) => st.url)])];
      await Promise.all(
        all.map(async (url) => {
          const previous = last.get(url) ?? recorded.find((st) => st.url === url);
          const status: SyncStatus = { url, ...(await syncAppUrl(url)), at: Date.now() };
          if (status.ok && !last.get(url)?.ok) log.info({ url }, `app at ${url} synced`);
          if (!status.ok && last.get(url)?.error !== status.error) {
            log.warn({ url, why: status.error }, "app sync failed; retrying every few seconds");
          }
          last.set(url, status);
          await recordSync(kv, status, previous).catch(() => undefined);
        }),
      );
    } finally {
      running = false;
    }
  };
  void syncAll();
  const timer = setInterval(() => void syncAll(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
