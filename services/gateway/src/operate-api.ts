/**
 * Operating on runs and functions: rerun (same event, optionally from a step with the earlier
 * steps' recorded results, and an edited output for that step), invoke a function with a payload,
 * and a server-sent-events stream of run and event changes for live views.
 */
import {
  callUrlOf,
  type InboxCommand,
  InternalEvents,
  RERUNS_METADATA_KIND,
  type RunContext,
  RunMetadataRequestSchema,
  retriesOf,
  runIdFor,
  type StoredEvent,
  Subjects,
  statusOf,
  ulid,
} from "@jetstep/core";
import {
  type MetadataStore,
  MetadataTooLargeError,
  type Nats,
  type Publisher,
  type Registry,
  type RunLog,
  readRun,
  type SnapshotReader,
  subscribe,
} from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { eventSizeProblem, storeEvents } from "./ingest.ts";
import { type JsonResult, parseJson } from "./json-body.ts";
import { maxMessageBytes } from "./message-size.ts";
import { isRunId } from "./run-id.ts";

export interface OperateDeps {
  nats: Nats;
  metadata: Pick<MetadataStore, "update">;
  snapshots: SnapshotReader;
  runLog: RunLog;
  publisher: Publisher;
  registry: Registry;
  now: () => number;
  random: () => number;
}

const RerunSchema = z
  .object({ fromStep: z.string().min(1).optional(), output: z.unknown().optional() })
  .strict()
  .refine((b) => b.output === undefined || b.fromStep !== undefined, {
    message: "output needs fromStep",
    path: ["output"],
  });

const InvokeSchema = z.object({ data: z.record(z.string(), z.unknown()).optional() }).strict();

/** A body that may be left out (`{}`). */
function parseBody(raw: unknown): JsonResult {
  if (typeof raw !== "string" || raw.trim() === "") return { ok: true, value: {} };
  return parseJson(raw);
}

const issue = (e: z.ZodError) => `${e.issues[0]?.path.join(".") || "(body)"}: ${e.issues[0]?.message}`;

// biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
export function registerOperateRoutes(app: FastifyInstance<any, any, any, any>, deps: OperateDeps): void {
  metadataRoute(app, deps);
  rerunRoute(app, deps);
  invokeRoute(app, deps);
  streamRoute(app, deps);
}

// biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
type AnyApp = FastifyInstance<any, any, any, any>;

/**
 * `POST /v1/runs/:id/metadata`: metadata from outside a step (`inngest.score(…)` and the like), also
 * once the run ended.
 */
function metadataRoute(app: AnyApp, deps: OperateDeps): void {
  app.post<{ Params: { id: string } }>("/v1/runs/:id/metadata", async (req, reply) => {
    const id = req.params.id;
    if (!isRunId(id)) return reply.status(404).send({ error: `run ${id} not found` });
    const body = parseJson(typeof req.body === "string" ? req.body : "");
    if (!body.ok) return reply.status(400).send({ error: body.error });
    const parsed = RunMetadataRequestSchema.safeParse(body.value);
    if (!parsed.success) return reply.status(400).send({ error: issue(parsed.error) });
    const { target, metadata } = parsed.data;
    if (target.run_id !== id)
      return reply
        .status(400)
        .send({ error: `target.run_id: ${target.run_id} is not the run in the path (${id})` });
    if ((await deps.runLog.lastSeq(id)) === 0)
      return reply.status(404).send({ error: `run ${id} not found` });
    try {
      await deps.metadata.update(id, target.step_id, metadata);
    } catch (e) {
      if (e instanceof MetadataTooLargeError) return reply.status(413).send({ error: e.message });
      throw e;
    }
    return {
      data: { run_id: id, ...(target.step_id ? { step_id: target.step_id } : {}), updated: metadata.length },
    };
  });
}

/**
 * `POST /v1/runs/:id/rerun` `{fromStep?, output?}`: a new run of the same event, seeded with the
 * steps before `fromStep` (see `seedBefore`).
 */
function rerunRoute(app: AnyApp, deps: OperateDeps): void {
  app.post<{ Params: { id: string } }>("/v1/runs/:id/rerun", async (req, reply) => {
    const id = req.params.id;
    if (!isRunId(id)) return reply.status(404).send({ error: `run ${id} not found` });
    const body = parseBody(req.body);
    if (!body.ok) return reply.status(400).send({ error: body.error });
    const parsed = RerunSchema.safeParse(body.value);
    if (!parsed.success) return reply.status(400).send({ error: issue(parsed.error) });
    const { snapshot } = await readRun(deps.runLog, deps.snapshots, id);
    if (statusOf(snapshot) === "empty" || !snapshot.context.event)
      return reply.status(404).send({ error: `run ${id} not found` });
    const ctx = snapshot.context;
    const seed =
      parsed.data.fromStep === undefined ? [] : seedBefore(ctx, parsed.data.fromStep, parsed.data.output);
    if (seed === undefined)
      return reply
        .status(400)
        .send({ error: `fromStep: run ${id} has no finished step "${parsed.data.fromStep}"` });
    const runId = ulid(deps.now(), deps.random);
    const cmd = rerunCommand(deps.registry, ctx, runId, seed);
    // The command is one NATS message: the event and every seeded step's output must fit in it.
    const size = Buffer.byteLength(JSON.stringify(cmd));
    const max = maxMessageBytes(deps.nats);
    if (size > max) {
      const field = parsed.data.output !== undefined ? "output" : "fromStep";
      return reply.status(413).send({
        error: `${field}: the rerun's start command (its event and seeded step outputs) would be ${size} bytes; at most ${max} (one NATS message)`,
      });
    }
    await deps.publisher.publishJson(Subjects.inbox(ctx.partition), cmd, { msgId: `start-${runId}` });
    await noteRerun(deps.metadata, id, runId, deps.now());
    return { data: { run_id: runId, rerun_of: id, seeded_steps: seed.map((s) => s.name) } };
  });
}

/** `POST /v1/functions/:id/invoke` `{data?}`: stores an invoke event naming the function, which runs it. */
function invokeRoute(app: AnyApp, deps: OperateDeps): void {
  app.post<{ Params: { id: string } }>("/v1/functions/:id/invoke", async (req, reply) => {
    const fnId = req.params.id;
    if (!deps.registry.getFunction(fnId))
      return reply.status(404).send({ error: `function ${fnId} not found` });
    const body = parseBody(req.body);
    if (!body.ok) return reply.status(400).send({ error: body.error });
    const parsed = InvokeSchema.safeParse(body.value);
    if (!parsed.success) return reply.status(400).send({ error: issue(parsed.error) });
    const ts = deps.now();
    const event: StoredEvent = {
      id: ulid(ts, deps.random),
      name: InternalEvents.functionInvoked,
      data: { ...(parsed.data.data ?? {}), _inngest: { fn_id: fnId } },
      ts,
    };
    const tooLarge = eventSizeProblem(event, "data: the invoke event", maxMessageBytes(deps.nats));
    if (tooLarge) return reply.status(413).send({ error: tooLarge });
    await storeEvents(deps.publisher, [event]);
    return { data: { event_id: event.id, run_id: runIdFor(event.id, fnId, ts) } };
  });
}

/** `GET /v1/stream`: run and event changes as server-sent events, for live views. */
function streamRoute(app: AnyApp, deps: Pick<OperateDeps, "nats">): void {
  app.get("/v1/stream", (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.write(": connected\n\n");
    const send = (kind: string, data: Uint8Array) =>
      res.write(`event: ${kind}\ndata: ${new TextDecoder().decode(data)}\n\n`);
    const subs = [
      subscribe(deps.nats, Subjects.allRunIndex, (m) => send("run", m.data)),
      subscribe(deps.nats, Subjects.allEvents, (m) => send("event", m.data)),
    ];
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    req.raw.on("close", () => {
      clearInterval(ping);
      for (const s of subs) s.unsubscribe();
    });
  });
}

/**
 * The steps a rerun from `fromStep` (an id or a name) is seeded with: those that completed before
 * it (sleeps and waits too: a rerun does not sleep or wait again for them), then `fromStep` with
 * `output` if one is given. Undefined when the run has no finished step `fromStep`.
 */
function seedBefore(ctx: RunContext, fromStep: string, output: unknown): SeedStep[] | undefined {
  const from = ctx.steps[fromStep] ?? Object.values(ctx.steps).find((s) => s.name === fromStep);
  if (!from || from.order === undefined) return undefined;
  const order = from.order;
  const seed: SeedStep[] = Object.values(ctx.steps)
    .filter((s) => s.status === "completed" && s.order !== undefined && s.order < order)
    .sort((a, b) => (a.order as number) - (b.order as number))
    .map((s) => ({
      stepId: s.stepId,
      name: s.name,
      data: s.data ?? null,
      ...(s.memoRaw ? { raw: true } : {}),
    }));
  if (output !== undefined) seed.push({ stepId: from.stepId, name: from.name, data: output });
  return seed;
}

/** A seeded step of a rerun: its recorded output, and whether that is the SDK's raw form. */
export interface SeedStep {
  stepId: string;
  name: string;
  data: unknown;
  raw?: boolean;
}

/**
 * The start command of a rerun of the run whose context is `ctx`: the same event (or batch), the
 * function as registered now (URL and retries; as the run had them if it is gone), and `seed`.
 */
export function rerunCommand(
  registry: Pick<Registry, "getFunction">,
  ctx: RunContext,
  runId: string,
  seed: readonly SeedStep[] = [],
): InboxCommand {
  const registered = registry.getFunction(ctx.fnId);
  return {
    type: "start",
    runId,
    fnId: ctx.fnId,
    appId: ctx.appId,
    url: registered ? callUrlOf(registered.fn) : ctx.url,
    maxAttempts: registered ? retriesOf(registered.fn) + 1 : ctx.maxAttempts,
    event: ctx.event as StoredEvent,
    events: ctx.events,
    ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
    ...(seed.length > 0 ? { seed: [...seed] } : {}),
    rerunOf: ctx.runId,
  };
}

/**
 * Notes on the original run that `rerunId` reruns it, so that its view lists its reruns. The
 * rerun is started already: a note that cannot be written (the run's metadata full) is skipped.
 */
export async function noteRerun(
  metadata: Pick<MetadataStore, "update">,
  originalId: string,
  rerunId: string,
  at: number,
): Promise<void> {
  await metadata
    .update(originalId, undefined, [
      { kind: RERUNS_METADATA_KIND, op: "merge", values: { [rerunId]: new Date(at).toISOString() } },
    ])
    .catch((e) => {
      if (!(e instanceof MetadataTooLargeError)) throw e;
    });
}
