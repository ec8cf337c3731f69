/**
 * The HTTP gateway (fastify): event ingest, app registration and the REST API. Stateless: it
 * talks to JetStream only, so any number can run behind a load balancer.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import {
  appUrlPolicy,
  HEADERS_TIMEOUT_MS,
  MAX_URL_LENGTH,
  MaxBodyBytes,
  REQUEST_TIMEOUT_MS,
  ReplayError,
  statusOf,
  subjectProblem,
} from "@jetstep/core";
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
  readRun,
  readRunIndex,
  SnapshotStore,
  SyncStatusStore,
} from "@jetstep/jetstream";
import { type Logger, type Metrics, noMetrics } from "@jetstep/telemetry";
import Fastify, { type FastifyInstance, LogController, type RawServerDefault } from "fastify";
import { z } from "zod";
import { registerApiAuth } from "./api-auth.ts";
import {
  appHolds,
  forgetSync,
  listSyncStatuses,
  recordSync,
  type SyncStatus,
  syncByHand,
  syncKey,
} from "./app-sync.ts";
import { registerBulkRoutes } from "./bulk-api.ts";
import { registerCancelRoutes } from "./cancel-api.ts";
import { type CheckpointRouteDeps, registerCheckpointRoutes } from "./checkpoint-api.ts";
import { registerEndpointRoutes } from "./endpoint-api.ts";
import { registerEventRoutes } from "./events-api.ts";
import { registerFunctionRoutes } from "./functions-api.ts";
import { errorAnswer, type HttpTimeouts, serverOptions } from "./http-edge.ts";
import { registerIngestRoutes } from "./ingest-api.ts";
import { parseJson } from "./json-body.ts";
import { registerListRoutes, unlessMovedOn } from "./list-api.ts";
import { maxMessageBytes } from "./message-size.ts";
import { registerMetricsRoute } from "./metrics-api.ts";
import { startNatsIngest } from "./nats-ingest.ts";
import { startNatsRegister } from "./nats-register.ts";
import { registerOperateRoutes } from "./operate-api.ts";
import { registerRealtimeRoutes } from "./realtime-api.ts";
import { registerApp, unauthorizedRegistration } from "./register-app.ts";
import { isRunId } from "./run-id.ts";
import { runView, withReruns } from "./runs-api.ts";
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
}

export const defaultGatewayConfig = (): GatewayConfig => ({
  eventKeys: [],
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
});

export async function buildGateway(
  deps: GatewayDeps,
): Promise<FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>> {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const app = Fastify({
    ...serverOptions(deps.config),
    forceCloseConnections: true,
    loggerInstance: deps.log.child({ svc: "gateway" }),
    logController: new LogController({ disableRequestLogging: true }),
  });
  const publisher = new Publisher(deps.nats.nc);
  const runLog = new RunLog(deps.nats.jsm, publisher);
  const snapshots = new SnapshotStore(deps.buckets.snapshots);
  const metadata = new MetadataStore(deps.buckets.metadata);
  const syncStatuses = new SyncStatusStore<SyncStatus>(deps.buckets.functions, deps.nats.jsm);
  const registry = new Registry(deps.buckets.functions, (message, err) =>
    deps.log.warn({ err, svc: "gateway", bucket: "functions" }, message),
  );
  await registry.watch();
  const run = deps.metrics?.run ?? noMetrics;
  const ingest = startNatsIngest({
    nats: deps.nats,
    publisher,
    log: deps.log,
    now,
    random,
    eventKeys: deps.config.eventKeys,
    metrics: run,
  });
  const appUrls = appUrlPolicy(deps.config.allowAppUrls);
  const registerDeps = {
    registry,
    log: deps.log,
    appUrls,
    now,
    signingKey: deps.config.signingKey,
    maxRecordBytes: () => maxMessageBytes(deps.nats),
    holds: appHolds(syncStatuses, now),
  };
  const natsRegister = startNatsRegister({ ...registerDeps, nats: deps.nats });
  app.addHook("onClose", async () => {
    natsRegister.stop();
    ingest.stop();
    registry.stop();
    publisher.close();
  });

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

  registerIngestRoutes(app, {
    publisher,
    nats: deps.nats,
    log: deps.log,
    now,
    random,
    eventKeys: deps.config.eventKeys,
    metrics: run,
  });

  app.post(
    "/fn/register",
    {
      bodyLimit: MaxBodyBytes.large,
      // The signing key is checked before the body is read.
      onRequest: async (req, reply) => {
        const unauthorized = unauthorizedRegistration(req.headers.authorization, deps.config.signingKey);
        if (unauthorized) return reply.status(unauthorized.status).send(unauthorized.body);
      },
    },
    async (req, reply) => {
      const deployId = (req.query as Record<string, unknown>).deployId;
      const answer = await registerApp(
        typeof req.body === "string" ? req.body : "",
        registerDeps,
        typeof deployId === "string" ? deployId : undefined,
      );
      return reply.status(answer.status).send(answer.body);
    },
  );

  app.get("/v1/apps", async () => {
    const statuses = await listSyncStatuses(syncStatuses);
    const apps = registry
      .listApps()
      .map((a) => ({ ...a, sync: statuses.find((st) => st.url === a.url) ?? null }));
    // URLs that never registered an app (down, wrong path…) are listed with their sync error.
    const orphans = statuses
      .filter((st) => !apps.some((a) => a.url === st.url))
      .map((st) => ({ appId: null, url: st.url, functions: [], syncedAt: null, sync: st }));
    return { data: [...apps, ...orphans] };
  });

  // Retiring an app: its functions are no longer triggered or called (runs already started keep
  // their URL and go on), and its URL leaves the periodic sync. `?url=` removes a URL that never
  // registered an app. A `-u` URL is synced again (and re-registers): remove it from the command.
  app.delete<{ Params: { appId: string } }>("/v1/apps/:appId", async (req, reply) => {
    const known = registry.listApps().find((a) => a.appId === req.params.appId);
    // Forgotten first: a registration answering a sync of its URL under way is refused from here.
    if (known) await forgetSync(syncStatuses, known.url, now());
    if (!(await registry.remove(req.params.appId)))
      return reply.status(404).send({ error: `app ${req.params.appId} not found` });
    deps.log.info({ appId: req.params.appId, url: known?.url }, "app removed");
    return { data: { app_id: req.params.appId, url: known?.url ?? null, removed: true } };
  });
  app.delete<{ Querystring: { url?: string } }>("/v1/apps", async (req, reply) => {
    const url = req.query.url;
    if (typeof url !== "string" || url === "")
      return reply.status(400).send({ error: "url: give the URL to remove as ?url=" });
    const listed = (await listSyncStatuses(syncStatuses)).some((st) => st.url === url);
    if (!listed) return reply.status(404).send({ error: `url: ${url} is not synced` });
    await forgetSync(syncStatuses, url, now());
    return { data: { url, removed: true } };
  });

  const syncNow = (url: string) => syncByHand(syncStatuses, url, { signingKey: deps.config.signingKey, now });

  for (const path of ["/v1/apps", "/v1/apps/sync"]) {
    app.post(path, async (req, reply) => {
      const body = parseJson(typeof req.body === "string" ? req.body : "");
      if (!body.ok) return reply.status(400).send({ error: body.error });
      const parsed = UrlBody.safeParse(body.value);
      if (!parsed.success) {
        return reply.status(400).send({
          error: `${parsed.error.issues[0]?.path.join(".") || "(body)"}: ${parsed.error.issues[0]?.message}`,
        });
      }
      const refused = appUrls.problem(parsed.data.url);
      if (refused) return reply.status(400).send({ error: `url: ${refused}` });
      // Adding records the URL first, so the periodic sync keeps trying even if this attempt fails.
      if (path === "/v1/apps")
        await recordSync(syncStatuses, {
          url: parsed.data.url,
          ok: false,
          error: "not synced yet",
          at: now(),
        });
      return { data: await syncNow(parsed.data.url) };
    });
  }
  const pauses = new PauseStore(deps.buckets.pauses);
  registerFunctionRoutes(app, { registry, rollups: new RollupLog(deps.nats, publisher), pauses, now });

  const checkpointDeps = {
    nats: deps.nats,
    leases: deps.buckets.leases,
    ...(deps.localCheckpoints ? { local: deps.localCheckpoints } : {}),
    ...(deps.config.signingKey ? { signingKey: deps.config.signingKey } : {}),
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
    channels: new RealtimeChannels(deps.nats.js, publisher),
    runLog,
    snapshots,
    ...(deps.config.signingKey ? { signingKey: deps.config.signingKey } : {}),
  });
  const active = new ActiveStore(deps.buckets.active, deps.nats);
  const operations = new OperationLog(deps.nats, publisher);
  const { signingKey } = deps.config;
  const signed = signingKey ? { signingKey } : {};
  registerCancelRoutes(app, { active, snapshots, runLog, publisher, operations, ...signed, now, random });
  registerListRoutes(app, deps.nats, runLog);
  registerTraceRoute(app, {
    runLog,
    snapshots,
    ...(deps.config.traceUrl ? { traceUrl: deps.config.traceUrl } : {}),
  });
  if (deps.metrics)
    registerMetricsRoute(app, {
      metrics: deps.metrics,
      consumerLags: () => durableConsumerLags(deps.nats.jsm),
    });
  if (deps.config.uiDir) registerUiRoutes(app, deps.config.uiDir);
  const operate = { nats: deps.nats, metadata, snapshots, runLog, publisher, registry, now, random };
  registerOperateRoutes(app, operate);
  registerBulkRoutes(app, { ...operate, operations, pauses, log: deps.log, ...signed });

  app.get<{ Params: { id: string } }>("/v1/runs/:id", async (req, reply) => {
    const id = req.params.id;
    if (!isRunId(id)) return reply.status(404).send({ error: `run ${id} not found` });
    const listed = async () => {
      const record = await readRunIndex(deps.nats, id);
      return record ? unlessMovedOn(record, runLog) : undefined;
    };
    let read: Awaited<ReturnType<typeof readRun>>;
    try {
      read = await readRun(runLog, snapshots, id);
    } catch (e) {
      // A log that cannot be replayed: the executor cannot move the run on either, and lists it
      // as stuck; show that rather than fail.
      if (!(e instanceof ReplayError)) throw e;
      const record = await listed();
      if (!record) throw e;
      return reply.status(200).send({
        data: {
          run_id: id,
          function_id: record.fnId,
          app_id: record.appId,
          status: "Stuck",
          event_id: record.eventId ?? null,
          run_started_at: new Date(record.startedAt).toISOString(),
          ended_at: null,
          stuck: {
            reason: record.stuck?.reason ?? e.message,
            since: record.stuck ? new Date(record.stuck.since).toISOString() : null,
          },
          error: { name: e.name, message: e.message },
          steps: [],
        },
      });
    }
    const { snapshot } = read;
    if (statusOf(snapshot) === "empty") return reply.status(404).send({ error: `run ${id} not found` });
    const view = { ...runView(snapshot), ...withReruns(await metadata.read(id)) };
    if (view.status !== "Running") return { data: view };
    // Listed as stuck by the executor: say why (the run is still retried).
    const record = await listed();
    return {
      data:
        record?.status === "Stuck" && record.stuck
          ? {
              ...view,
              status: "Stuck",
              stuck: { reason: record.stuck.reason, since: new Date(record.stuck.since).toISOString() },
            }
          : view,
    };
  });

  registerEventRoutes(app, {
    events: new EventLog(deps.nats.jsm),
    eventRuns: new EventRunsStore(deps.buckets.eventRuns),
    runLog,
    snapshots,
  });

  return app;
}

/** `POST /v1/apps` and `/v1/apps/sync`: an app URL, which becomes a key of the FUNCTIONS bucket. */
const UrlBody = z
  .object({
    url: z
      .string({ error: "is required and must be a string" })
      .max(MAX_URL_LENGTH, { error: `must be at most ${MAX_URL_LENGTH} characters`, abort: true })
      .url("must be an http(s) URL")
      .refine((url) => /^https?:\/\//i.test(url), "must be an http(s) URL")
      .superRefine((url, ctx) => {
        const problem = subjectProblem(syncKey(url));
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
  })
  .strict();
