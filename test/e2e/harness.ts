/**
 * E2E harness: a real nats-server per test file (test/support) and Jetstep's runtime, either
 * in-process (`startStack`) or as a `jetstep dev` child process (`spawnJetstep`, for crash tests).
 *
 * The runtime, the SDK, the NATS stores and the logger are imported where they are used, not at
 * the top: a test file that runs Jetstep as a process never loads the server's modules (importing
 * this file cost 1.97 CPU-s with them; every e2e file is a node process of its own).
 */
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { Runtime } from "@jetstep/cli";
import { Consumers, hashSigningKey, Keys, Streams } from "@jetstep/core";
import {
  type NatsServerHandle,
  spawnCli,
  spawnTs,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";

export interface Stack {
  nats: NatsServerHandle;
  runtime: Runtime;
  url: string;
  stop(): Promise<void>;
}

export async function startStack(
  opts: {
    appUrls?: string[];
    retryIntervalMs?: number;
    endpointSyncTimeoutMs?: number;
    leaseTtlMs?: number;
    nats?: NatsServerHandle;
    reconcileMs?: number;
    stuckAfterMs?: number;
    /** How often executors append their counts to ROLLUPS (default 10 s, as in production). */
    rollupFlushMs?: number;
    /** As `jetstep start` runs: event keys required on `POST /e/:key`. */
    eventKeys?: string[];
    /** As `jetstep start` runs: calls are signed and registrations must carry the key. */
    signingKey?: string;
  } = {},
): Promise<Stack> {
  const nats = opts.nats ?? (await startNatsServer());
  const { startRuntime } = await import("@jetstep/cli");
  const { createLogger, silentLogger } = await import("@jetstep/telemetry");
  const runtime = await startRuntime({
    natsUrl: nats.url,
    host: "127.0.0.1",
    port: 0,
    appUrls: opts.appUrls ?? [],
    syncIntervalMs: 500,
    retryIntervalMs: opts.retryIntervalMs ?? 100,
    leaseTtlMs: opts.leaseTtlMs ?? 3000,
    ...(opts.reconcileMs !== undefined ? { reconcileMs: opts.reconcileMs } : {}),
    ...(opts.endpointSyncTimeoutMs ? { endpointSyncTimeoutMs: opts.endpointSyncTimeoutMs } : {}),
    ...(opts.stuckAfterMs !== undefined ? { stuckAfterMs: opts.stuckAfterMs } : {}),
    ...(opts.rollupFlushMs !== undefined ? { rollupFlushMs: opts.rollupFlushMs } : {}),
    ...(opts.eventKeys ? { eventKeys: opts.eventKeys } : {}),
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
    log: process.env.JETSTEP_TEST_LOGS ? createLogger({ level: "debug" }) : silentLogger(),
  });
  if (opts.signingKey) useApiKey(runtime.gatewayUrl, opts.signingKey);
  return {
    nats,
    runtime,
    url: runtime.gatewayUrl,
    async stop() {
      await runtime.stop();
      if (!opts.nats) await nats.stop();
    },
  };
}

/** Starts `jetstep dev` as a child process against an existing NATS server. */
export async function spawnJetstep(
  natsUrl: string,
  port: number,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<TsProcess> {
  const proc = spawnCli(["dev", "--nats-url", natsUrl, "--port", String(port), "--json", ...args], {
    env,
  });
  await proc.waitForLine(/dev server ready/, 30_000);
  return proc;
}

export interface ApiRun {
  run_id: string;
  function_id: string;
  status: string;
  /** What a running run is doing (queued, running, sleeping, backoff…). */
  phase?: string;
  output: unknown;
  error: { name: string; message: string } | null;
  steps: { id: string; name: string; status: string; attempts: number; output: unknown; error: unknown }[];
}

export async function sendEvents(url: string, events: unknown): Promise<string[]> {
  const res = await fetch(`${url}/e/test-key`, { method: "POST", body: JSON.stringify(events) });
  const body = (await res.json()) as { ids: string[]; error?: string };
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${body.error}`);
  return body.ids;
}

export async function eventRuns(url: string, eventId: string): Promise<ApiRun[] | null> {
  const res = await apiFetch(`${url}/v1/events/${eventId}/runs`);
  if (res.status === 404) return null;
  return ((await res.json()) as { data: ApiRun[] }).data;
}

export async function getRun(url: string, runId: string): Promise<ApiRun | null> {
  const res = await apiFetch(`${url}/v1/runs/${runId}`);
  if (res.status === 404) return null;
  return ((await res.json()) as { data: ApiRun }).data;
}

const FINAL = new Set(["Completed", "Failed", "Cancelled"]);

/** A run as a failure message shows it: id, status and phase, and where each step stands. */
const runSummary = (r: ApiRun) => ({
  run: r.run_id,
  status: r.status,
  ...(r.phase ? { phase: r.phase } : {}),
  steps: r.steps.map((s) => `${s.name}:${s.status}`),
});

/** Waits until the event started `count` runs and all of them ended. */
export async function waitForEventRuns(
  url: string,
  eventId: string,
  count = 1,
  timeoutMs = 30_000,
): Promise<ApiRun[]> {
  let seen = "no answer yet";
  return waitFor(
    async () => {
      const runs = await eventRuns(url, eventId);
      seen = runs === null ? "event not found" : JSON.stringify(runs.map(runSummary));
      return runs && runs.length === count && runs.every((r) => FINAL.has(r.status)) ? runs : null;
    },
    { timeoutMs, message: `runs of event ${eventId} did not all end` },
  ).catch((e: Error) => {
    e.message += `; ${count} expected, last seen: ${seen}`;
    throw e;
  });
}

/**
 * Waits until the Jetstep at `url` lists `appId` in `GET /v1/apps`.
 *
 * With `syncUrl` (the app's serve URL), a listing without the app also asks Jetstep to sync that
 * URL now (`POST /v1/apps/sync`, what the UI's "Sync" button sends), at most once a second. Meant
 * for an app served after `jetstep … -u <url>` started: its first sync failed, and the next one
 * comes after the sync backoff (5 s, then 10 s in `jetstep dev`), which is not what such a test
 * is about. Tests of `-u` syncing itself leave it out.
 */
export async function waitForApp(
  url: string,
  appId: string,
  opts: { syncUrl?: string; timeoutMs?: number } = {},
): Promise<void> {
  const { syncUrl, timeoutMs = 30_000 } = opts;
  let syncedAt = 0;
  let syncError = "";
  await waitFor(
    async () => {
      const res = await apiFetch(`${url}/v1/apps`);
      const apps = ((await res.json()) as { data: { appId: string }[] }).data;
      if (apps.some((a) => a.appId === appId)) return true;
      if (syncUrl !== undefined && Date.now() - syncedAt >= 1_000) {
        syncedAt = Date.now();
        const sync = await apiFetch(`${url}/v1/apps/sync`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ url: syncUrl }),
        });
        const answer = await sync.text();
        syncError = sync.ok ? "" : ` (POST /v1/apps/sync: ${sync.status} ${answer})`;
      }
      return false;
    },
    { timeoutMs, message: `app ${appId} never synced` },
  ).catch((e: Error) => {
    e.message += syncError;
    throw e;
  });
}

/** An app's HTTP server on an ephemeral port of 127.0.0.1. */
export interface ServedApp {
  /** Its serve URL (`http://127.0.0.1:<port>/api/inngest`). */
  url: string;
  server: Server;
  /** Closes it, dropping kept-alive connections. */
  close(): Promise<void>;
}

/** Serves `handler` (an app, e.g. our SDK's `serve({ client, functions })`) on an ephemeral port. */
export async function serveApp(handler: RequestListener, path = "/api/inngest"): Promise<ServedApp> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Serves an app and syncs it into the Jetstep at `url` as an SDK's sync does (a `PUT` to the
 * app, which registers itself), then waits until it is listed under `appId`.
 */
export async function startApp(url: string, appId: string, handler: RequestListener): Promise<ServedApp> {
  const app = await serveApp(handler);
  const res = await fetch(app.url, { method: "PUT" });
  if (!res.ok) throw new Error(`app ${appId} did not sync: ${res.status} ${await res.text()}`);
  await waitForApp(url, appId);
  return app;
}

/** API credentials of gateways under test (their base URL → `Authorization` value). */
const credentials = new Map<string, string>();

/**
 * Sends `Authorization: Bearer <key>` with every harness request to the gateway at `baseUrl` (a
 * `jetstep start` gateway asks for one on its REST API).
 */
export function useApiKey(baseUrl: string, key: string): void {
  credentials.set(baseUrl, `Bearer ${key}`);
}

/** `fetch`, with the API key registered for the URL's gateway (`useApiKey`), if any. */
export function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  for (const [base, auth] of credentials)
    if (url.startsWith(base))
      return fetch(url, {
        ...init,
        headers: { authorization: auth, ...(init.headers as Record<string, string>) },
      });
  return fetch(url, init);
}

/** `Authorization` that proves an app holds `signingKey`: `Bearer signkey-<env>-<hex(sha256(hexDecode(rest)))>`. */
export function signingBearer(signingKey: string): string {
  return `Bearer ${hashSigningKey(signingKey)}`;
}

export interface RecordingWorker {
  /** The function's wire id (`<appId>-record`). */
  functionId: string;
  /** Ids of the events its runs were started by, and the runs' ids, as they run. */
  seen: Set<string>;
  runIds: Set<string>;
  close(): Promise<void>;
}

/**
 * A NATS worker (in this process) serving one function on `event`, which runs one step and
 * records the event it ran for. Resolves once its app is registered.
 */
export async function startRecordingWorker(
  stack: Stack,
  opts: { appId: string; event: string; signingKey?: string },
): Promise<RecordingWorker> {
  const { Jetstep, worker } = await import("jetstep");
  const { silentLogger } = await import("@jetstep/telemetry");
  const client = new Jetstep({
    id: opts.appId,
    baseUrl: stack.url,
    env: {},
    logger: silentLogger(),
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
  });
  const seen = new Set<string>();
  const runIds = new Set<string>();
  const record = client.createFunction(
    { id: "record", retries: 0 },
    { event: opts.event },
    async ({ event, runId, step }) => {
      await step.run("seen", () => true);
      if (event.id) seen.add(event.id);
      runIds.add(runId);
      return { id: event.id };
    },
  );
  const w = await worker({ client, functions: [record], servers: stack.nats.url });
  const registered = await w.registered;
  if (!registered.ok) throw new Error(`worker ${opts.appId} not registered: ${JSON.stringify(registered)}`);
  return { functionId: `${opts.appId}-record`, seen, runIds, close: () => w.close() };
}

const SHOP = fileURLToPath(new URL("../../examples/shop/src/main.ts", import.meta.url));

/**
 * Starts `examples/shop`'s two services against a running Jetstep at `url`: orders over HTTP on
 * `env.PORT` (synced by jetstep's `-u`), billing as a NATS worker. `watch` wraps each process (to
 * report an early exit); resolves once both serve and both apps are registered.
 */
export async function startShop(
  url: string,
  env: Record<string, string>,
  watch: (name: string, p: TsProcess) => TsProcess,
): Promise<{ orders: TsProcess; billing: TsProcess }> {
  const orders = watch("orders", spawnTs(SHOP, ["orders"], { env }));
  const billing = watch("billing", spawnTs(SHOP, ["billing"], { env }));
  await orders.waitForLine(/orders serving functions/, 30_000);
  await billing.waitForLine(/billing registered/, 30_000);
  await waitForApp(url, "orders", { syncUrl: `http://127.0.0.1:${env.PORT}/api/inngest` });
  await waitForApp(url, "billing");
  return { orders, billing };
}

/**
 * Waits until `executors` executors share the partitions evenly (their leases in LEASES): before
 * that, partitions change hands, and a run whose partition moves mid-call is (correctly, at least
 * once) called again, which blurs what a test counts.
 */
export async function waitForPartitionSplit(natsUrl: string, executors: number): Promise<void> {
  const { connectNats, DEFAULT_PARTITIONS, openBuckets } = await import("@jetstep/jetstream");
  const nats = await connectNats({ servers: natsUrl });
  try {
    const { leases } = await openBuckets(nats, { replicas: 1 });
    const share = Math.ceil(DEFAULT_PARTITIONS / executors);
    await waitFor(
      async () => {
        const owners = new Map<string, number>();
        for (let p = 0; p < DEFAULT_PARTITIONS; p++) {
          const lease = await leases.get(Keys.lease(p));
          if (lease?.operation !== "PUT") return false;
          const { owner } = lease.json<{ owner: string }>();
          owners.set(owner, (owners.get(owner) ?? 0) + 1);
        }
        return owners.size === executors && [...owners.values()].every((n) => n <= share);
      },
      { timeoutMs: 30_000, message: `the partitions were never split between ${executors} executors` },
    );
  } finally {
    await nats.close();
  }
}

/**
 * Waits until the matchers have handled every event EVENTS holds now: the matcher consumer's ack
 * floor reached the stream's last sequence. An event is acked only once everything it implies is
 * written (its EVENT_RUNS record, its runs' start commands, the waits it matched, its debounce or
 * batch entry), so what an event could (wrongly) have done has been done by then.
 */
export async function waitForEventsMatched(natsUrl: string, timeoutMs = 30_000): Promise<void> {
  const { connectNats } = await import("@jetstep/jetstream");
  const nats = await connectNats({ servers: natsUrl });
  try {
    const last = (await nats.jsm.streams.info(Streams.events)).state.last_seq;
    await waitFor(
      async () =>
        (await nats.jsm.consumers.info(Streams.events, Consumers.matcher)).ack_floor.stream_seq >= last,
      { timeoutMs, message: `the matchers never handled EVENTS up to ${last}` },
    );
  } finally {
    await nats.close();
  }
}

const CRASH_APP = fileURLToPath(new URL("../fixtures/crash-app.ts", import.meta.url));

/**
 * Starts test/fixtures/crash-app.ts (official SDK, steps of `stepMs` that log every execution to
 * `execLog`) on `port`, pointed at the gateway `baseUrl`, and waits until Jetstep lists it. The
 * caller picks the port first: Jetstep syncs the app with `-u http://127.0.0.1:<port>/api/inngest`.
 */
export async function startCrashApp(
  port: number,
  baseUrl: string,
  execLog: string,
  stepMs: number,
): Promise<TsProcess> {
  const app = spawnTs(CRASH_APP, [], {
    env: {
      PORT: String(port),
      INNGEST_DEV: "1",
      INNGEST_BASE_URL: baseUrl,
      EXEC_LOG: execLog,
      STEP_MS: String(stepMs),
    },
  });
  await app.waitForLine(/listening/, 30_000);
  await waitForApp(baseUrl, "crash-app", { syncUrl: `http://127.0.0.1:${port}/api/inngest` });
  return app;
}
