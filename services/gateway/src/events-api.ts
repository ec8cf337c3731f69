/**
 * What an event did: `GET /v1/events/:id/runs` (the runs it started, and the functions it
 * skipped) and `GET /v1/events/:id` (the event as stored), both from its EVENT_RUNS record.
 */
import { EVENT_ID_PATTERN, MAX_EVENT_ID_LENGTH, statusOf } from "@jetstep/core";
import {
  type EventLog,
  type EventRunsRecord,
  type EventRunsStore,
  type RunLog,
  readRun,
  type SnapshotReader,
} from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { runView } from "./runs-api.ts";

export interface EventRouteDeps {
  events: Pick<EventLog, "at">;
  eventRuns: Pick<EventRunsStore, "get">;
  runLog: RunLog;
  snapshots: SnapshotReader;
}

export function registerEventRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: EventRouteDeps,
): void {
  const eventIndex = async (id: string): Promise<EventRunsRecord | null> => {
    // An id no event can have is not looked up (its key could be longer than a subject may be).
    if (id.length > MAX_EVENT_ID_LENGTH || !EVENT_ID_PATTERN.test(id)) return null;
    return (await deps.eventRuns.get(id)) ?? null;
  };

  app.get<{ Params: { id: string } }>("/v1/events/:id/runs", async (req, reply) => {
    const index = await eventIndex(req.params.id);
    if (!index)
      return reply.status(404).send({ error: `event ${req.params.id} not found (or not processed yet)` });
    const data = await Promise.all(
      index.runs.map(async (r) => {
        const { snapshot } = await readRun(deps.runLog, deps.snapshots, r.runId);
        return statusOf(snapshot) === "empty"
          ? {
              run_id: r.runId,
              function_id: r.fnId,
              status: "Running",
              phase: "queued",
              event_id: index.eventId,
              output: null,
              error: null,
              steps: [],
            }
          : runView(snapshot);
      }),
    );
    return { data, ...(index.skipped ? { skipped: index.skipped } : {}) };
  });

  app.get<{ Params: { id: string } }>("/v1/events/:id", async (req, reply) => {
    const index = await eventIndex(req.params.id);
    if (!index || index.seq === undefined)
      return reply.status(404).send({ error: `event ${req.params.id} not found` });
    const stored = await deps.events.at(index.seq);
    if (!stored) return reply.status(404).send({ error: `event ${req.params.id} no longer stored` });
    return { data: { ...(stored as Record<string, unknown>), internal_id: index.eventId } };
  });
}
