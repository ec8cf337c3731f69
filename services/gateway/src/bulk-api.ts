/**
 * Operating many runs at once, each recorded in OPERATIONS with who asked (the audit log):
 *
 *   POST /v1/functions/:id/pause   {reason?}  new runs of the function wait (their events are
 *                                            stored and they are scheduled) and start when it is
 *                                            resumed; runs already going on go on
 *   POST /v1/functions/:id/resume
 *   POST /v1/replays  {function_id, statuses?, from, to, dry_run?}  rerun every run of the function
 *                     that ended with one of `statuses` (default Failed) and started in [from, to):
 *                     with `dry_run`, how many and which (the first 20); otherwise 202 and the
 *                     operation, which goes on in the background (progress in GET /v1/operations/:id)
 *   GET  /v1/operations?function_id=&cursor=&limit=   newest change first
 *   GET  /v1/operations/:id
 *
 * A replay's reruns are deduplicated by operation and run (`Nats-Msg-Id`), so a run is replayed
 * once by one operation, however often its command is sent.
 */
import {
  type OperationKind,
  type OperationRecord,
  type RunIndexRecord,
  RunIndexRecordSchema,
  Streams,
  Subjects,
  ulid,
} from "@jetstep/core";
import {
  type MetadataStore,
  type Nats,
  type OperationLog,
  type PauseStore,
  type Publisher,
  pageBackwards,
  type Registry,
  type RunLog,
  readRun,
  type SnapshotReader,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { callerOf } from "./caller.ts";
import { parseJson } from "./json-body.ts";
import { noteRerun, rerunCommand } from "./operate-api.ts";

export interface BulkDeps {
  nats: Nats;
  metadata: Pick<MetadataStore, "update">;
  registry: Pick<Registry, "getFunction">;
  operations: OperationLog;
  pauses: PauseStore;
  runLog: RunLog;
  snapshots: SnapshotReader;
  publisher: Publisher;
  log: Logger;
  now: () => number;
  random: () => number;
  signingKey?: string;
}

/** Runs one replay reruns at most. */
export const MAX_REPLAY_RUNS = 10_000;
const SAMPLE = 20;
const PROGRESS_EVERY_MS = 500;

const time = z.union([
  z.number().int().nonnegative(),
  z.iso
    .datetime({ offset: true, error: "must be ms since the epoch or an RFC 3339 time" })
    .transform(Date.parse),
]);

const ReplaySchema = z
  .object({
    function_id: z.string().min(1, "is required"),
    statuses: z
      .array(
        z.enum(["Failed", "Cancelled", "Completed"], { error: "must be Failed, Cancelled or Completed" }),
      )
      .min(1, "must name at least one status")
      .default(["Failed"]),
    from: time,
    to: time,
    dry_run: z.boolean().default(false),
  })
  .strict()
  .refine((b) => b.from < b.to, { message: "must be before to", path: ["from"] });

const ReasonSchema = z
  .object({ reason: z.string().trim().min(1, "must not be empty").max(500, "is longer than 500 characters") })
  .partial()
  .strict();

const ListSchema = z.object({
  function_id: z.string().min(1).optional(),
  cursor: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const issue = (e: z.ZodError, where = "(body)") =>
  `${e.issues[0]?.path.join(".") || where}: ${e.issues[0]?.message}`;

/** A body that may be left out. */
function bodyOf(req: FastifyRequest): ReturnType<typeof parseJson> {
  const text = typeof req.body === "string" ? req.body.trim() : "";
  return text === "" ? { ok: true, value: {} } : parseJson(text);
}

export function operationJson(op: OperationRecord) {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: op.id,
    kind: op.kind,
    function_id: op.fnId,
    filter: op.filter
      ? {
          ...(op.filter.statuses ? { statuses: op.filter.statuses } : {}),
          ...(op.filter.from !== undefined ? { from: iso(op.filter.from) } : {}),
          ...(op.filter.to !== undefined ? { to: iso(op.filter.to) } : {}),
          ...(op.filter.if ? { if: op.filter.if } : {}),
        }
      : null,
    reason: op.reason ?? null,
    by: op.by,
    at: iso(op.at),
    state: op.state,
    total: op.total ?? null,
    done: op.done ?? null,
    failed: op.failed ?? null,
    updated_at: iso(op.updatedAt),
    ended_at: iso(op.endedAt),
    error: op.error ?? null,
  };
}

export function registerBulkRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: BulkDeps,
): void {
  registerPauseRoutes(app, deps);

  app.post("/v1/replays", async (req, reply) => {
    const body = bodyOf(req);
    if (!body.ok) return reply.status(400).send({ error: body.error });
    const parsed = ReplaySchema.safeParse(body.value);
    if (!parsed.success) return reply.status(400).send({ error: issue(parsed.error) });
    const { function_id: fnId, statuses, from, to, dry_run } = parsed.data;
    if (!deps.registry.getFunction(fnId))
      return reply.status(404).send({ error: `function_id: function ${fnId} not found` });
    const runs = await matchingRuns(deps.nats, fnId, new Set(statuses), from, to);
    if (runs.length > MAX_REPLAY_RUNS)
      return reply.status(400).send({
        error: `from: ${runs.length} runs match; a replay takes at most ${MAX_REPLAY_RUNS} (narrow the range)`,
      });
    if (dry_run)
      return {
        data: { function_id: fnId, count: runs.length, run_ids: runs.slice(0, SAMPLE).map((r) => r.runId) },
      };
    const op = newOperation(deps, req, "replay", fnId, {
      filter: { statuses, from, to },
      total: runs.length,
      done: 0,
      failed: 0,
    });
    await deps.operations.record(op);
    void replay(deps, op, runs);
    return reply.status(202).send({ data: operationJson(op) });
  });

  app.get("/v1/operations", async (req, reply) => {
    const parsed = ListSchema.safeParse(req.query);
    if (!parsed.success) return reply.status(400).send({ error: issue(parsed.error, "(query)") });
    const { function_id, cursor, limit } = parsed.data;
    const page = await deps.operations.list({
      ...(function_id ? { fnId: function_id } : {}),
      ...(cursor ? { cursor } : {}),
      limit,
    });
    return { data: page.items.map(operationJson), cursor: page.cursor };
  });

  app.get<{ Params: { id: string } }>("/v1/operations/:id", async (req, reply) => {
    const op = await deps.operations.get(req.params.id);
    if (!op) return reply.status(404).send({ error: `operation ${req.params.id} not found` });
    return { data: operationJson(op) };
  });
}

/** A new operation of `kind` on `fnId`, asked for by the caller of `req`, under way. */
function newOperation(
  deps: Pick<BulkDeps, "now" | "random" | "signingKey">,
  req: FastifyRequest,
  kind: OperationKind,
  fnId: string,
  fields: Partial<OperationRecord> = {},
): OperationRecord {
  const at = deps.now();
  return {
    id: ulid(at, deps.random),
    kind,
    fnId,
    by: callerOf(req, deps.signingKey),
    at,
    state: "running",
    updatedAt: at,
    ...fields,
  };
}

function registerPauseRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: BulkDeps,
): void {
  for (const kind of ["pause", "resume"] as const) {
    app.post<{ Params: { id: string } }>(`/v1/functions/:id/${kind}`, async (req, reply) => {
      const fnId = req.params.id;
      if (!deps.registry.getFunction(fnId))
        return reply.status(404).send({ error: `function ${fnId} not found` });
      const body = bodyOf(req);
      if (!body.ok) return reply.status(400).send({ error: body.error });
      const parsed = ReasonSchema.safeParse(body.value);
      if (!parsed.success) return reply.status(400).send({ error: issue(parsed.error) });
      const op = newOperation(
        deps,
        req,
        kind,
        fnId,
        parsed.data.reason ? { reason: parsed.data.reason } : {},
      );
      const changed =
        kind === "pause"
          ? await deps.pauses.pause({
              fnId,
              at: op.at,
              by: op.by,
              operationId: op.id,
              ...(op.reason ? { reason: op.reason } : {}),
            })
          : await deps.pauses.resume(fnId);
      if (!changed)
        return reply
          .status(409)
          .send({ error: `function ${fnId} is ${kind === "pause" ? "already paused" : "not paused"}` });
      const done = { ...op, state: "done" as const, endedAt: op.at };
      await deps.operations.record(done);
      return { data: { function_id: fnId, paused: kind === "pause", operation: operationJson(done) } };
    });
  }
}

/** Ended runs of `fnId` with one of `statuses`, started in [from, to), from RUN_INDEX (oldest first). */
async function matchingRuns(
  nats: Nats,
  fnId: string,
  statuses: ReadonlySet<string>,
  from: number,
  to: number,
): Promise<RunIndexRecord[]> {
  const out: RunIndexRecord[] = [];
  let cursor: number | undefined;
  do {
    const page = await pageBackwards<RunIndexRecord>(nats, Streams.runIndex, cursor, 1_000, (json) => {
      const r = RunIndexRecordSchema.safeParse(json);
      if (!r.success) return undefined;
      const run = r.data;
      return run.fnId === fnId && statuses.has(run.status) && run.startedAt >= from && run.startedAt < to
        ? run
        : undefined;
    });
    out.push(...page.items);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined && out.length <= MAX_REPLAY_RUNS);
  return out.sort((a, b) => a.startedAt - b.startedAt);
}

/** Reruns `runs` one after another, recording the operation's progress. */
async function replay(deps: BulkDeps, op: OperationRecord, runs: readonly RunIndexRecord[]): Promise<void> {
  let last = deps.now();
  const progress = { ...op };
  const note = async (force: boolean) => {
    const now = deps.now();
    if (!force && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    progress.updatedAt = now;
    await deps.operations
      .record(progress)
      .catch((err) => deps.log.warn({ err, operation: op.id }, "replay progress not recorded"));
  };
  for (const run of runs) {
    try {
      const { snapshot } = await readRun(deps.runLog, deps.snapshots, run.runId);
      const ctx = snapshot.context;
      if (!ctx.event) throw new Error(`run ${run.runId} has no event to replay`);
      const rerunId = ulid(deps.now(), deps.random);
      const cmd = rerunCommand(deps.registry, ctx, rerunId);
      const seq = await deps.publisher.publish(Subjects.inbox(ctx.partition), JSON.stringify(cmd), {
        msgId: `replay-${op.id}-${run.runId}`,
      });
      if (!seq.ok) throw new Error(`the rerun's start command was refused: ${seq.description}`);
      // A duplicate (this replay sent it before) started no new run.
      if (!seq.duplicate) await noteRerun(deps.metadata, run.runId, rerunId, deps.now());
      progress.done = (progress.done ?? 0) + 1;
    } catch (err) {
      progress.failed = (progress.failed ?? 0) + 1;
      progress.error = `${run.runId}: ${(err as Error).message}`;
      deps.log.warn({ err, operation: op.id, runId: run.runId }, "replay could not rerun a run");
    }
    await note(false);
  }
  progress.state =
    (progress.failed ?? 0) > 0 && (progress.done ?? 0) === 0 && runs.length > 0 ? "failed" : "done";
  progress.endedAt = deps.now();
  await note(true);
}
