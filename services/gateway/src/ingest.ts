/**
 * `POST /e/:key`: validate every event first (nothing of a rejected request is stored), then
 * append all to EVENTS with `Nats-Msg-Id` = event id (24 h dedupe) and answer `{ids, status}`.
 */
import {
  formatIssues,
  Headers,
  IncomingEventSchema,
  MAX_EVENT_BYTES,
  MAX_EVENTS_PER_REQUEST,
  normalizeTraceparent,
  type StoredEvent,
  Subjects,
  ulid,
} from "@jetstep/core";
import type { Publisher } from "@jetstep/jetstream";

export class IngestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "IngestError";
  }
}

/** Parses and validates a raw request body into stored events, or throws IngestError. */
export function parseEvents(raw: string, now: () => number, random: () => number): StoredEvent[] {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (e) {
    throw new IngestError(400, `invalid JSON: ${(e as Error).message}`);
  }
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
    const size = Buffer.byteLength(JSON.stringify(item) ?? "");
    if (size > MAX_EVENT_BYTES)
      throw new IngestError(413, `${where} is ${size} bytes; at most ${MAX_EVENT_BYTES} per event`);
    if (typeof item !== "object" || item === null || Array.isArray(item))
      throw new IngestError(400, `${where}: must be an object`);
    const parsed = IncomingEventSchema.safeParse(item);
    if (!parsed.success)
      throw new IngestError(400, `${where}: ${formatIssues(parsed.error).replace(/^/, "")}`);
    const e = parsed.data;
    return {
      id: e.id ?? ulid(ts, random),
      name: e.name,
      data: e.data ?? {},
      ...(e.user ? { user: e.user } : {}),
      ts: e.ts ?? ts,
      ...(e.v ? { v: e.v } : {}),
    };
  });
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
