/**
 * `GET /v1/runs/:id`: one run as its log tells it (runs-api.ts's `runView`), with its metadata
 * and reruns, and marked `Stuck` when the executor lists it so.
 */
import { ReplayError, type RunIndexRecord, statusOf } from "@jetstep/core";
import {
  type MetadataStore,
  type Nats,
  type RunLog,
  readRun,
  readRunIndex,
  type SnapshotReader,
} from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { unlessMovedOn } from "./list-api.ts";
import { isRunId } from "./run-id.ts";
import { runView, withReruns } from "./runs-api.ts";

export interface RunViewRouteDeps {
  nats: Nats;
  runLog: RunLog;
  snapshots: SnapshotReader;
  metadata: Pick<MetadataStore, "read">;
}

export function registerRunViewRoute(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: RunViewRouteDeps,
): void {
  app.get<{ Params: { id: string } }>("/v1/runs/:id", async (req, reply) => {
    const id = req.params.id;
    if (!isRunId(id)) return reply.status(404).send({ error: `run ${id} not found` });
    const listed = async () => {
      const record = await readRunIndex(deps.nats, id);
      return record ? unlessMovedOn(record, deps.runLog) : undefined;
    };
    let read: Awaited<ReturnType<typeof readRun>>;
    try {
      read = await readRun(deps.runLog, deps.snapshots, id);
    } catch (e) {
      // A log that cannot be replayed: the executor cannot move the run on either, and lists it
      // as stuck; show that rather than fail.
      if (!(e instanceof ReplayError)) throw e;
      const record = await listed();
      if (!record) throw e;
      return reply.status(200).send({ data: unreplayableView(id, record, e) });
    }
    const { snapshot } = read;
    if (statusOf(snapshot) === "empty") return reply.status(404).send({ error: `run ${id} not found` });
    const view = { ...runView(snapshot), ...withReruns(await deps.metadata.read(id)) };
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
}

/** A run whose log cannot be replayed, shown from its listing as stuck, with the replay's error. */
function unreplayableView(id: string, record: RunIndexRecord, e: ReplayError) {
  return {
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
  };
}
