/**
 * `POST /e/:key` and NATS ingestion: validate every event first (nothing of a rejected request is
 * stored), then append all to EVENTS with `Nats-Msg-Id` = event id (24 h dedupe) and answer
 * `{ids, status}`. The limits are core's (limits.ts).
 */
import {
  EventSessionsError,
  formatIssues,
  Headers,
  IncomingEventSchema,
  MAX_EVENT_BYTES,
  MAX_EVENTS_PER_REQUEST,
  normalizeTraceparent,
  type StoredEvent,
  type StoredEventMeta,
  Subjects,
  storedEventMeta,
  ulid,
} from "@jetstep/core";
import type { Publisher } from "@jetstep/jetstream";
import { parseJson } from "./json-body.ts";

export class IngestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "IngestError";
  }
}

/**
 * Parses and validates a raw request body into stored events, or throws IngestError: 400 naming
 * the event and field (`events[3].id: …`), 413 for an event over MAX_EVENT_BYTES or
 * `maxEventBytes` (what one NATS message of the server holds).
 */
export function parseEvents(
  raw: string,
  now: () => number,
  random: () => number,
  maxEventBytes: number,
): StoredEvent[] {
  const json = parseJson(raw, { whole: "event", element: "events" });
  if (!json.ok) throw new IngestError(400, json.error);
  const body = json.value;
  const list = Array.isArray(body) ? body : [body];
  if (list.length === 0) throw new IngestError(400, "no events: the body is an empty array");
  if (list.length > MAX_EVENTS_PER_REQUEST) {
    throw new IngestError(
      400,
      `too many events: ${list.length} in one request, at most ${MAX_EVENTS_PER_REQUEST}`,
    );
  }
  const ts = now();
  return list.map((item, i) => {
    const where = Array.isArray(body) ? `events[${i}]` : "event";
    const tooLarge = eventSizeProblem(item, where, maxEventBytes);
    if (tooLarge) throw new IngestError(413, tooLarge);
    if (typeof item !== "object" || item === null || Array.isArray(item))
      throw new IngestError(400, `${where}: must be an object`);
    const parsed = IncomingEventSchema.safeParse(item);
    if (!parsed.success) throw new IngestError(400, formatIssues(parsed.error, where));
    const e = parsed.data;
    let meta: StoredEventMeta | undefined;
    try {
      meta = storedEventMeta(e.meta);
    } catch (err) {
      if (err instanceof EventSessionsError) throw new IngestError(400, `${where}.meta: ${err.message}`);
      throw err;
    }
    return {
      id: e.id ?? ulid(ts, random),
      name: e.name,
      data: e.data ?? {},
      ...(e.user ? { user: e.user } : {}),
      ...(meta ? { meta } : {}),
      ts: e.ts ?? ts,
      ...(e.v ? { v: e.v } : {}),
    };
  });
}

/**
 * Why `event` is too large, naming it `where`, or null: its JSON must fit MAX_EVENT_BYTES and
 * `maxEventBytes` (what the NATS server takes).
 */
export function eventSizeProblem(event: unknown, where: string, maxEventBytes: number): string | null {
  const limit = Math.min(MAX_EVENT_BYTES, maxEventBytes);
  const size = Buffer.byteLength(JSON.stringify(event) ?? "");
  return size > limit ? `${where} is ${size} bytes; at most ${limit} per event` : null;
}

/**
 * Appends events; retries transient failures with the same msg ids (idempotent). A valid
 * `traceparent` the sender gave goes with each event (runs it starts join the sender's trace); an
 * invalid one is ignored, as the W3C spec says.
 */
export async function storeEvents(
  publisher: Publisher,
  events: StoredEvent[],
  trace?: { traceparent?: string | undefined },
): Promise<void> {
  const traceparent = normalizeTraceparent(trace?.traceparent);
  const headers = traceparent ? { [Headers.traceparent]: traceparent } : undefined;
  await Promise.all(
    events.map(async (e) => {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await publisher.publish(Subjects.event(e.name), JSON.stringify(e), {
            msgId: e.id,
            ...(headers ? { headers } : {}),
          });
          if (r.ok) return;
          if (attempt >= 2) throw new Error(`event ${e.id} not stored: ${r.description}`);
        } catch (err) {
          if (attempt >= 2) throw err;
        }
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }),
  );
}
