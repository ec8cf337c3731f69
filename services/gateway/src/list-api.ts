/**
 * Listing runs and events, newest first, with filters and a cursor. Runs come from RUN_INDEX (the
 * latest state of each run, one message per run: ordered by last change), events from EVENTS;
 * both are read backwards by stream sequence with direct gets — never a scan of RUNS and never a
 * consumer. `cursor` is the sequence to continue below.
 */
import {
  type RunIndexRecord,
  RunIndexRecordSchema,
  type StoredEvent,
  StoredEventSchema,
  Streams,
} from "@jetstep/core";
import { type DeadLetter, type Nats, pageBackwards, type RunLog } from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";

const time = z
  .union([
    z.coerce.number().int().nonnegative(),
    z.iso.datetime({ offset: true }).transform((v) => Date.parse(v)),
  ])
  .optional();

const RunsQuerySchema = z.object({
  function_id: z.string().min(1).optional(),
  status: z
    .string()
    .transform((v) => v.split(",").map((x) => x.trim()))
    .pipe(
      z.array(
        z.enum(["Running", "Stuck", "Completed", "Failed", "Cancelled"], {
          error: "must be Running, Stuck, Completed, Failed or Cancelled",
        }),
      ),
    )
    .optional(),
  event_name: z.string().min(1).optional(),
  from: time,
  to: time,
  cursor: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const DeadLettersQuerySchema = z.object({
  source: z
    .enum(["ingest", "matcher", "executor"], { error: "must be ingest, matcher or executor" })
    .optional(),
  cursor: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const EventsQuerySchema = z.object({
  name: z.string().min(1).optional(),
  cursor: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  include_internal: z.enum(["true", "false"]).default("false"),
});

function problem(error: z.ZodError): string {
  const i = error.issues[0];
  return `${i?.path.join(".") || "(query)"}: ${i?.message}`;
}

/**
 * A run listed as `Stuck` whose log grew since (another executor, or a retry, moved it on before
 * the listing was rewritten) is running.
 */
export async function unlessMovedOn(record: RunIndexRecord, runLog: RunLog): Promise<RunIndexRecord> {
  if (record.status !== "Stuck" || record.stuck?.logSeq === undefined) return record;
  const lastSeq = await runLog.lastSeq(record.runId).catch(() => undefined);
  if (lastSeq === undefined || lastSeq <= record.stuck.logSeq) return record;
  const { stuck: _, ...rest } = record;
  return { ...rest, status: "Running" };
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function registerListRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  nats: Nats,
  runLog: RunLog,
): void {
  app.get("/v1/runs", async (req, reply) => {
    const q = RunsQuerySchema.safeParse(req.query);
    if (!q.success) return reply.status(400).send({ error: problem(q.error) });
    const f = q.data;
    const page = await pageBackwards<RunIndexRecord>(
      nats,
      Streams.runIndex,
      f.cursor,
      f.limit,
      async (json) => {
        const r = RunIndexRecordSchema.safeParse(json);
        if (!r.success) return undefined;
        const run = await unlessMovedOn(r.data, runLog);
        if (f.function_id && run.fnId !== f.function_id) return undefined;
        if (f.status && !f.status.includes(run.status as never)) return undefined;
        if (f.event_name && run.eventName !== f.event_name) return undefined;
        if (f.from !== undefined && run.startedAt < f.from) return undefined;
        if (f.to !== undefined && run.startedAt > f.to) return undefined;
        return run;
      },
    );
    return {
      data: page.items.map((r) => ({
        run_id: r.runId,
        function_id: r.fnId,
        app_id: r.appId,
        status: r.status,
        ...(r.stuck ? { stuck_reason: r.stuck.reason, stuck_since: iso(r.stuck.since) } : {}),
        event_id: r.eventId ?? null,
        event_name: r.eventName ?? null,
        run_started_at: iso(r.startedAt),
        ended_at: iso(r.endedAt),
      })),
      cursor: page.cursor === null ? null : String(page.cursor),
    };
  });

  app.get("/v1/events", async (req, reply) => {
    const q = EventsQuerySchema.safeParse(req.query);
    if (!q.success) return reply.status(400).send({ error: problem(q.error) });
    const f = q.data;
    const page = await pageBackwards<StoredEvent>(nats, Streams.events, f.cursor, f.limit, (json) => {
      const e = StoredEventSchema.safeParse(json);
      if (!e.success) return undefined;
      if (f.name && e.data.name !== f.name) return undefined;
      if (!f.name && f.include_internal === "false" && e.data.name.startsWith("inngest/")) return undefined;
      return e.data;
    });
    return { data: page.items, cursor: page.cursor === null ? null : String(page.cursor) };
  });

  // What was taken but could not be processed (refused NATS publishes, poison events and
  // commands), with the reason: nothing is dropped silently, and this is where it shows.
  app.get("/v1/dead-letters", async (req, reply) => {
    const q = DeadLettersQuerySchema.safeParse(req.query);
    if (!q.success) return reply.status(400).send({ error: problem(q.error) });
    const f = q.data;
    const page = await pageBackwards<DeadLetter>(
      nats,
      Streams.deadLetters,
      f.cursor,
      f.limit,
      (json, m) => {
        const source = m.subject.slice(m.subject.indexOf(".") + 1);
        if (f.source && source !== f.source) return undefined;
        const letter = json as Partial<DeadLetter>;
        return { ...(letter as DeadLetter), payload: letter.payload ?? "", id: m.seq, source };
      },
      false,
    );
    return { data: page.items, cursor: page.cursor === null ? null : String(page.cursor) };
  });
}
