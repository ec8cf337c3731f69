/**
 * Cancelling runs: `DELETE /v1/runs/:id` (one run; an optional body `{reason}` says why) and `POST /v1/cancellations` (every active run
 * of a function started in a time range, optionally filtered by a CEL expression on its event;
 * `dry_run` only counts them; otherwise it is recorded in OPERATIONS with who asked).
 * A cancel is a command to the run's partition; the run's owner appends `run.cancelled` between
 * steps (a step already executing finishes, its result is not recorded) and emits
 * `inngest/function.cancelled`.
 */
import {
  checkToken,
  compileExpression,
  type InboxCommand,
  type OperationRecord,
  Subjects,
  statusOf,
  ulid,
} from "@jetstep/core";
import {
  type ActiveStore,
  type OperationLog,
  type Publisher,
  type RunLog,
  readRun,
  type SnapshotReader,
} from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { operationJson } from "./bulk-api.ts";
import { callerOf } from "./caller.ts";
import { parseJson } from "./json-body.ts";
import { runView } from "./runs-api.ts";

export interface CancelDeps {
  /** ACTIVE: every unfinished run, for bulk cancellations. */
  active: Pick<ActiveStore, "entries">;
  snapshots: SnapshotReader;
  runLog: RunLog;
  publisher: Publisher;
  /** Where a bulk cancellation is recorded, with who asked. */
  operations: Pick<OperationLog, "record">;
  signingKey?: string;
  now: () => number;
  random: () => number;
}

const BulkCancelSchema = z
  .object({
    function_id: z.string().min(1, "is required"),
    started_after: z.iso.datetime({ offset: true, error: "must be an RFC 3339 time" }).optional(),
    started_before: z.iso.datetime({ offset: true, error: "must be an RFC 3339 time" }).optional(),
    if: z.string().optional(),
    /** Only count (and list the first 20 of) the runs it would cancel. */
    dry_run: z.boolean().optional(),
  })
  .strict();

/** `DELETE /v1/runs/:id`'s optional body: why (recorded as the run's cancel reason). */
const CancelOneSchema = z
  .object({ reason: z.string().trim().min(1, "must not be empty").max(500, "is longer than 500 characters") })
  .partial()
  .strict();

/** The reason a `DELETE /v1/runs/:id` body gives (the default without a body), or the 400 to answer. */
function cancelReason(body: unknown): { reason: string } | { error: string } {
  const text = typeof body === "string" ? body.trim() : "";
  if (text === "") return { reason: "cancelled via the API" };
  const json = parseJson(text);
  if (!json.ok) return { error: json.error };
  const parsed = CancelOneSchema.safeParse(json.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { error: `${issue?.path.join(".") || "(body)"}: ${issue?.message}` };
  }
  return { reason: parsed.data.reason ?? "cancelled via the API" };
}

function sendCancel(publisher: Publisher, partition: number, runId: string, reason: string): Promise<number> {
  const cmd: InboxCommand = { type: "cancel", runId, reason };
  return publisher.publishJson(Subjects.inbox(partition), cmd, { msgId: `cancel-${runId}` });
}

// biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
export function registerCancelRoutes(app: FastifyInstance<any, any, any, any>, deps: CancelDeps): void {
  app.delete<{ Params: { id: string } }>("/v1/runs/:id", async (req, reply) => {
    const id = req.params.id;
    const why = cancelReason(req.body);
    if ("error" in why) return reply.status(400).send({ error: why.error });
    if (!isRunId(id)) return reply.status(404).send({ error: `run ${id} not found` });
    const { snapshot } = await readRun(deps.runLog, deps.snapshots, id);
    const status = statusOf(snapshot);
    if (status === "empty") return reply.status(404).send({ error: `run ${id} not found` });
    if (status !== "running") {
      return reply.status(409).send({ error: `run ${id} already ended (${runView(snapshot).status})` });
    }
    await sendCancel(deps.publisher, snapshot.context.partition, id, why.reason);
    // Give the run's owner a moment, so the answer usually shows the cancelled run.
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const { snapshot: now } = await readRun(deps.runLog, deps.snapshots, id);
      if (statusOf(now) !== "running") return { data: runView(now) };
      await new Promise((r) => setTimeout(r, 50));
    }
    return reply.status(202).send({ data: { run_id: id, status: "Running", cancel_requested: true } });
  });

  app.post("/v1/cancellations", async (req, reply) => {
    const body = parseJson(typeof req.body === "string" ? req.body : "");
    if (!body.ok) return reply.status(400).send({ error: body.error });
    const parsed = BulkCancelSchema.safeParse(body.value);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return reply.status(400).send({ error: `${i?.path.join(".") || "(body)"}: ${i?.message}` });
    }
    const { function_id, started_after, started_before } = parsed.data;
    let test: ReturnType<typeof compileExpression> | undefined;
    if (parsed.data.if) {
      try {
        test = compileExpression(parsed.data.if);
      } catch (e) {
        return reply.status(400).send({ error: `if: ${(e as Error).message}` });
      }
    }
    const after = started_after ? Date.parse(started_after) : Number.NEGATIVE_INFINITY;
    const before = started_before ? Date.parse(started_before) : Number.POSITIVE_INFINITY;
    const at = deps.now();
    const cancellationId = ulid(at, deps.random);
    const dryRun = parsed.data.dry_run === true;
    const reason = dryRun ? undefined : `cancelled by bulk cancellation ${cancellationId}`;
    const { count, sample } = await cancelMatching(deps, function_id, after, before, test, reason);
    if (dryRun) return { data: { function_id, count, run_ids: sample } };
    const operation: OperationRecord = {
      id: cancellationId,
      kind: "cancel",
      fnId: function_id,
      filter: {
        ...(started_after ? { from: after } : {}),
        ...(started_before ? { to: before } : {}),
        ...(parsed.data.if ? { if: parsed.data.if } : {}),
      },
      by: callerOf(req, deps.signingKey),
      at,
      state: "done",
      total: count,
      done: count,
      failed: 0,
      updatedAt: deps.now(),
      endedAt: deps.now(),
    };
    await deps.operations.record(operation);
    return {
      data: { id: cancellationId, function_id, cancelled: count, operation: operationJson(operation) },
    };
  });
}

/**
 * Cancels (with `reason`; without, only counts) the active runs of `fnId` created in (after,
 * before) whose event passes `test`; the first 20 run ids come back as a sample.
 */
async function cancelMatching(
  deps: CancelDeps,
  fnId: string,
  after: number,
  before: number,
  test: ReturnType<typeof compileExpression> | undefined,
  reason: string | undefined,
): Promise<{ count: number; sample: string[] }> {
  const sample: string[] = [];
  let count = 0;
  // A run's due and parked markers may both be there (while its owner moves it): one cancel.
  const seen = new Set<string>();
  for await (const { key, run } of deps.active.entries()) {
    if (run.fnId !== fnId) continue;
    if (run.createdAt <= after || run.createdAt >= before) continue;
    const runId = key.slice(key.indexOf(".") + 1);
    if (seen.has(runId)) continue;
    seen.add(runId);
    const { snapshot } = await readRun(deps.runLog, deps.snapshots, runId);
    if (statusOf(snapshot) !== "running") continue;
    if (test && !test.test({ event: snapshot.context.event }).value) continue;
    count++;
    if (sample.length < 20) sample.push(runId);
    if (reason !== undefined) await sendCancel(deps.publisher, snapshot.context.partition, runId, reason);
  }
  return { count, sample };
}

function isRunId(id: string): boolean {
  try {
    checkToken("runId", id);
    return true;
  } catch {
    return false;
  }
}
