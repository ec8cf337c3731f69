/**
 * Durable endpoints (the official SDK v4's `inngest.endpoint`, adapters `inngest/node`, `/edge`,
 * `/next`): an HTTP handler of the app whose steps are durable. It never registers; its run starts
 * inside the app's own request, and the SDK reports what it did here:
 *
 * - `POST /v1/checkpoint`: the first report (after the first step, or the end) creates the run,
 *   with the id the SDK chose, for the function `event.data.fn` (or `"<METHOD> <path>"`) of the
 *   app at `event.data.domain`. It answers the ids and the token that reads the run's output.
 * - `POST /v1/checkpoint/:runId/steps`: later reports. Completed steps are recorded while the
 *   app's request runs the run (sync mode); anything else (a sleep, a wait, an error…) makes it
 *   async: the executor then calls the endpoint again with the original request to go on, and the
 *   end user is sent to the output URL.
 * - `GET /v0/runs/:runId/actions` and `/batch`: what a resumed endpoint reads (its steps' results
 *   and its event), with the hashed signing key.
 * - `GET /v1/http/runs/:runId/output?token=`: the run's result once it ends (`{data}`: the body the
 *   endpoint returned), waiting for it; open to anyone holding the token (CORS `*`).
 *
 * Both report routes may be sent again (the SDK retries them): the run id and step ids make them
 * idempotent.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import {
  type AppUrlPolicy,
  CheckpointStepSchema,
  ENDPOINT_SYNC_TIMEOUT_MS,
  HTTP_REQUEST_EVENT,
  MAX_NAME_LENGTH,
  MAX_URL_LENGTH,
  memoOf,
  partitionOf,
  publicStatus,
  type RunSnapshot,
  type StartRunCommand,
  stackOf,
  statusOf,
} from "@jetstep/core";
import { type RunLog, readRun, type SnapshotReader } from "@jetstep/jetstream";
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import {
  type CheckpointRouteDeps,
  checkpointRouteOptions,
  deliverCheckpoint,
  fieldError,
  partitionCounter,
} from "./checkpoint-api.ts";
import { parseJson } from "./json-body.ts";
import { isRunId } from "./run-id.ts";

export interface EndpointRouteDeps extends CheckpointRouteDeps {
  runLog: RunLog;
  snapshots: SnapshotReader;
  appUrls: AppUrlPolicy;
  now: () => number;
  /** Sync mode ends after this long without a report (default `ENDPOINT_SYNC_TIMEOUT_MS`). */
  syncTimeoutMs?: number;
  /** How long one output request waits for the run to end before it redirects to itself. */
  outputWaitMs?: number;
  /** How often a waiting output request looks at the run. */
  outputPollMs?: number;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/** The body of `POST /v1/checkpoint` as the SDK sends it (more fields are ignored). */
const NewRunSchema = z
  .object({
    run_id: z.string().min(1).max(64),
    event: z
      .object({
        name: z.literal(HTTP_REQUEST_EVENT),
        data: z
          .object({
            domain: z.string().max(MAX_URL_LENGTH),
            method: z.enum(METHODS),
            path: z.string().startsWith("/").max(MAX_URL_LENGTH),
            fn: z.string().max(MAX_NAME_LENGTH).optional(),
            query_params: z.string().max(MAX_URL_LENGTH).optional(),
            content_type: z.string().max(256).optional(),
            ip: z.string().max(256).optional(),
            body: z.string().optional(),
          })
          .loose(),
      })
      .loose(),
    steps: z.array(CheckpointStepSchema).max(1000),
    ts: z.number().optional(),
    retries: z.number().int().min(0).max(20).optional(),
  })
  .loose();
type NewRun = z.infer<typeof NewRunSchema>;

/** The body of `POST /v1/checkpoint/:runId/steps`. */
const StepsSchema = z
  .object({
    run_id: z.string().min(1),
    fn_id: z.string().min(1).max(MAX_NAME_LENGTH),
    app_id: z.string().min(1).max(MAX_NAME_LENGTH),
    steps: z.array(CheckpointStepSchema).max(1000),
  })
  .loose();

/** Lower-case letters, digits and dashes: ids of what an endpoint names in a URL. */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 100);
}

/**
 * The token that reads a run's output: derived from the run id with the signing key, so every
 * gateway computes the same one, and a report sent again gets the same answer. Without a signing
 * key (dev, where the REST API is open anyway) it is derived from the run id alone.
 */
export function outputToken(runId: string, signingKey: string | undefined): string {
  const mac = signingKey
    ? createHmac("sha256", signingKey).update(`jetstep-endpoint-output\u0000${runId}`)
    : createHash("sha256").update(`jetstep-endpoint-output-dev\u0000${runId}`);
  return mac.digest("base64url");
}

/**
 * The token that reads what a run's endpoint streams (`GET /v1/realtime/sse?token=`): the run id
 * and a MAC of it, so the stream route knows which run it names.
 */
export function streamToken(runId: string, signingKey: string | undefined): string {
  const mac = signingKey
    ? createHmac("sha256", signingKey).update(`jetstep-endpoint-stream\u0000${runId}`)
    : createHash("sha256").update(`jetstep-endpoint-stream-dev\u0000${runId}`);
  return `${runId}.${mac.digest("base64url")}`;
}

/** The run a stream token names, or undefined for a token that is not one. */
export function runOfStreamToken(token: string, signingKey: string | undefined): string | undefined {
  const runId = token.slice(0, token.indexOf("."));
  if (!isRunId(runId)) return undefined;
  const given = Buffer.from(token);
  const expected = Buffer.from(streamToken(runId, signingKey));
  return given.length === expected.length && timingSafeEqual(given, expected) ? runId : undefined;
}

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

export function registerEndpointRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: any server flavour (the gateway's has a pino logger)
  app: FastifyInstance<any, any, any, any>,
  deps: EndpointRouteDeps,
): void {
  // Both report routes share one counter, which keeps the partition count once it has read it.
  const reports: ReportRoutes = {
    deps,
    partitionCount: partitionCounter(deps.leases),
    options: checkpointRouteOptions(deps.signingKey),
  };
  newRunRoute(app, reports);
  stepsRoute(app, reports);
  actionsRoutes(app, deps);
  outputRoute(app, deps);
}

// biome-ignore lint/suspicious/noExplicitAny: any server flavour (the gateway's has a pino logger)
type AnyApp = FastifyInstance<any, any, any, any>;

/** What the two report routes share. */
interface ReportRoutes {
  deps: EndpointRouteDeps;
  partitionCount: () => Promise<number | undefined>;
  options: ReturnType<typeof checkpointRouteOptions>;
}

/** The 503 of a report that arrives before any executor set the partition count. */
function noOwner(reply: FastifyReply) {
  return reply
    .status(503)
    .send({ status: 503, error: "no executor has started yet (partition count unknown)" });
}

/** `POST /v1/checkpoint`: the first report, which creates the run. */
function newRunRoute(app: AnyApp, { deps, partitionCount, options }: ReportRoutes): void {
  app.post("/v1/checkpoint", options, async (req, reply) => {
    const body = parseJson(typeof req.body === "string" ? req.body : "");
    if (!body.ok) return reply.status(400).send({ status: 400, error: body.error });
    const parsed = NewRunSchema.safeParse(body.value);
    if (!parsed.success)
      return reply.status(400).send({ status: 400, error: fieldError(parsed.error.issues) });
    const { run_id: runId, event, steps } = parsed.data;
    if (!isRunId(runId))
      return reply.status(400).send({ status: 400, error: "run_id: may hold only letters, digits, _ and -" });
    const target = endpointOf(event.data, deps.appUrls);
    if ("error" in target) return reply.status(400).send({ status: 400, error: target.error });
    const count = await partitionCount();
    if (count === undefined) return noOwner(reply);
    const token = outputToken(runId, deps.signingKey);
    const start = startCommand(deps, parsed.data, target, sha256(token));
    const answer = await deliverCheckpoint(deps, partitionOf(runId, count), {
      runId,
      endpoint: true,
      start,
      steps,
    });
    if (answer.status !== 200)
      return reply.status(answer.status).send({ status: answer.status, error: answer.message });
    return {
      data: {
        fn_id: target.fnId,
        app_id: target.appId,
        run_id: runId,
        token,
        realtime_token: streamToken(runId, deps.signingKey),
      },
    };
  });
}

/** The endpoint a new run's request names: its URL, and the ids of its app and function. */
interface Endpoint {
  url: string;
  appId: string;
  fnId: string;
}

/**
 * The endpoint of a new run's request (`event.data`), or why it is refused: the domain is not an
 * http(s) URL, or the app URL policy does not take the URL.
 */
function endpointOf(data: NewRun["event"]["data"], appUrls: AppUrlPolicy): Endpoint | { error: string } {
  let origin: URL;
  try {
    origin = new URL(data.domain);
  } catch {
    return { error: `event.data.domain: ${data.domain} is not a URL` };
  }
  if (origin.protocol !== "http:" && origin.protocol !== "https:")
    return { error: "event.data.domain: must be an http(s) URL" };
  const query = data.query_params ? `?${data.query_params}` : "";
  const url = `${origin.origin}${data.path}${query}`;
  const refused = appUrls.problem(url);
  if (refused) return { error: `event.data.domain: ${refused}` };
  const appId = slug(origin.host) || "endpoint";
  const fnId = `${appId}-${slug(data.fn || `${data.method} ${data.path}`) || "endpoint"}`;
  return { url, appId, fnId };
}

/**
 * The start command of a new endpoint run: its event is the app's request, and it keeps the hash of
 * the output token (`tokenHash`).
 */
function startCommand(
  deps: EndpointRouteDeps,
  body: NewRun,
  { url, appId, fnId }: Endpoint,
  tokenHash: string,
): StartRunCommand {
  const runId = body.run_id;
  const request = {
    id: `${runId}-request`,
    name: HTTP_REQUEST_EVENT,
    data: { ...body.event.data },
    ts: body.ts ?? deps.now(),
  };
  return {
    type: "start",
    runId,
    fnId,
    appId,
    url,
    maxAttempts: (body.retries ?? 3) + 1,
    event: request,
    events: [request],
    endpoint: { tokenHash, syncTimeoutMs: deps.syncTimeoutMs ?? ENDPOINT_SYNC_TIMEOUT_MS },
  };
}

/** `POST /v1/checkpoint/:runId/steps`: a later report. */
function stepsRoute(app: AnyApp, { deps, partitionCount, options }: ReportRoutes): void {
  app.post<{ Params: { runId: string } }>("/v1/checkpoint/:runId/steps", options, async (req, reply) => {
    const body = parseJson(typeof req.body === "string" ? req.body : "");
    if (!body.ok) return reply.status(400).send({ status: 400, error: body.error });
    const parsed = StepsSchema.safeParse(body.value);
    if (!parsed.success)
      return reply.status(400).send({ status: 400, error: fieldError(parsed.error.issues) });
    const runId = req.params.runId;
    if (parsed.data.run_id !== runId)
      return reply
        .status(400)
        .send({ status: 400, error: `run_id: ${parsed.data.run_id} is not the run in the path (${runId})` });
    if (!isRunId(runId)) return reply.status(404).send({ status: 404, error: `run ${runId} not found` });
    const count = await partitionCount();
    if (count === undefined) return noOwner(reply);
    const answer = await deliverCheckpoint(deps, partitionOf(runId, count), {
      runId,
      endpoint: true,
      fnId: parsed.data.fn_id,
      appId: parsed.data.app_id,
      steps: parsed.data.steps,
    });
    return reply
      .status(answer.status)
      .send(answer.status === 200 ? {} : { status: answer.status, error: answer.message });
  });
}

/** The run, or a 404 sent. */
async function runOr404(
  deps: Pick<EndpointRouteDeps, "runLog" | "snapshots">,
  runId: string,
  reply: FastifyReply,
): Promise<RunSnapshot | undefined> {
  if (isRunId(runId)) {
    const { snapshot } = await readRun(deps.runLog, deps.snapshots, runId);
    if (statusOf(snapshot) !== "empty") return snapshot;
  }
  void reply.status(404).send({ status: 404, error: `run ${runId} not found` });
  return undefined;
}

/** `GET /v0/runs/:runId/actions` and `/batch`: a resumed endpoint's steps' results and its event. */
function actionsRoutes(app: AnyApp, deps: EndpointRouteDeps): void {
  app.get<{ Params: { runId: string } }>("/v0/runs/:runId/actions", async (req, reply) => {
    const snapshot = await runOr404(deps, req.params.runId, reply);
    if (!snapshot) return reply;
    // In the order the steps ended: the SDK takes the keys' order as the run's stack.
    const memo = memoOf(snapshot.context);
    const ordered: Record<string, unknown> = {};
    for (const id of stackOf(snapshot.context)) if (id in memo) ordered[id] = memo[id];
    return { ...ordered, ...memo };
  });

  app.get<{ Params: { runId: string } }>("/v0/runs/:runId/batch", async (req, reply) => {
    const snapshot = await runOr404(deps, req.params.runId, reply);
    if (!snapshot) return reply;
    return snapshot.context.events;
  });
}

/** `GET /v1/http/runs/:runId/output?token=`: the run's result once it ends, waiting for it. */
function outputRoute(app: AnyApp, deps: EndpointRouteDeps): void {
  const waitMs = deps.outputWaitMs ?? 25_000;
  const pollMs = deps.outputPollMs ?? 250;
  app.get<{ Params: { runId: string }; Querystring: { token?: string } }>(
    "/v1/http/runs/:runId/output",
    async (req, reply) => {
      void reply.header("access-control-allow-origin", "*");
      const runId = req.params.runId;
      const given = Buffer.from(typeof req.query.token === "string" ? req.query.token : "");
      const expected = Buffer.from(outputToken(runId, deps.signingKey));
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        return reply.status(401).send({ status: 401, error: "token: not the token of this run's output" });
      const until = deps.now() + waitMs;
      for (;;) {
        const snapshot = await runOr404(deps, runId, reply);
        if (!snapshot) return reply;
        const ctx = snapshot.context;
        const status = publicStatus(statusOf(snapshot), ctx);
        if (status === "Completed") return { data: responseBody(ctx.output) };
        if (status === "Failed")
          return reply
            .status(500)
            .send({ status: 500, error: ctx.error ?? { name: "Error", message: "failed" } });
        if (status === "Cancelled")
          return reply.status(500).send({
            status: 500,
            error: { name: "Cancelled", message: ctx.cancelReason ?? "the run was cancelled" },
          });
        if (deps.now() >= until || req.raw.destroyed) break;
        await new Promise((r) => setTimeout(r, pollMs));
      }
      // Still running: the client comes back (clients follow a redirect, so it waits on).
      return reply.status(302).header("location", req.url).header("retry-after", "1").send();
    },
  );
}

/**
 * What the endpoint answered, as its run recorded it (`{status, headers, body}`): the body, parsed
 * when it is JSON. The SDK records a resumed endpoint's body as a JSON string of the body's text,
 * so that string is parsed in turn when it is JSON itself (`Response.json(…)`).
 */
export function responseBody(output: unknown): unknown {
  const body = (output as { body?: unknown } | null | undefined)?.body;
  if (typeof body !== "string") return output ?? null;
  const parsed = parseOr(body);
  return typeof parsed === "string" ? parseOr(parsed) : parsed;
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
