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
import type { DeadLetter, Nats, RunLog, StoredMsg } from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";

const MAX_SCAN = 20_000;

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

interface Page<T> {
  items: T[];
  cursor: number | null;
}

/** Messages read per batched direct get when a listing walks a stream backwards. */
const WINDOW = 256;

/**
 * Reads `stream` backwards from below `cursor`, keeping items `parse` accepts, until `limit` (at
 * most MAX_SCAN messages looked at). By batched direct gets, a window of WINDOW sequences per
 * request (a filter that matches little looked at 20,000 messages one round trip each: seconds
 * per request under load); by single gets when the server has no batched ones, or (a stream
 * without direct gets) by the leader's `MSG.GET`.
 */
async function pageBackwards<T>(
  nats: Nats,
  stream: string,
  cursor: number | undefined,
  limit: number,
  parse: (json: unknown, m: StoredMsg) => T | undefined | Promise<T | undefined>,
  direct = true,
): Promise<Page<T>> {
  const state = (await nats.jsm.streams.info(stream)).state;
  const items: T[] = [];
  const take = async (m: StoredMsg): Promise<void> => {
    let json: unknown;
    try {
      json = m.json();
    } catch {
      return;
    }
    const item = await parse(json, m);
    if (item !== undefined) items.push(item);
  };
  let seq = Math.min(cursor !== undefined ? cursor - 1 : state.last_seq, state.last_seq);
  let scanned = 0;
  let batched = direct;
  while (seq >= state.first_seq && seq > 0 && items.length < limit && scanned < MAX_SCAN) {
    const hi = seq;
    if (!batched) {
      const m = await (direct
        ? nats.jsm.direct.getMessage(stream, { seq })
        : nats.jsm.streams.getMessage(stream, { seq })
      ).catch(() => null);
      scanned++;
      seq--;
      if (m) await take(m);
      continue;
    }
    const lo = Math.max(state.first_seq, 1, hi - WINDOW + 1, hi - (MAX_SCAN - scanned) + 1);
    const window = await readWindow(nats, stream, lo, hi).catch(() => undefined);
    if (window === undefined) {
      batched = false; // a server without batched direct gets
      continue;
    }
    seq = lo - 1; // the whole window, unless the page fills up within it
    for (const m of window) {
      if (items.length >= limit) {
        seq = m.seq; // continue at this one
        break;
      }
      await take(m);
    }
    scanned += hi - seq;
  }
  return { items, cursor: seq >= state.first_seq && seq > 0 ? seq + 1 : null };
}

/** The messages of sequences `lo`..`hi` of `stream`, newest first, in one batched direct get. */
async function readWindow(nats: Nats, stream: string, lo: number, hi: number): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  const iter = await nats.jsm.direct.getBatch(stream, { seq: lo, batch: hi - lo + 1 });
  for await (const m of iter) if (m.seq <= hi) out.push(m);
  return out.reverse();
}

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
