import { z } from "zod";
import { SendEventError } from "./errors.ts";
import type { EventInput } from "./step-tools.ts";
import { traceHeaders } from "./tracing.ts";
import { SDK_IDENT } from "./version.ts";
import { Header } from "./wire.ts";

const replySchema = z.looseObject({
  ids: z.array(z.string()).default([]),
  status: z.number().optional(),
  error: z.string().optional(),
});

/** Events as sent: `name` checked, `data` defaults to `{}`, `ts` to now. */
function eventBodies(events: readonly EventInput[], ts: number): EventInput[] {
  return events.map((e, i) => {
    if (typeof e?.name !== "string" || e.name === "")
      throw new SendEventError(0, `send(): events[${i}].name must be a non-empty string`);
    return { ...e, data: e.data ?? {}, ts: e.ts ?? ts };
  });
}

/** Events per request at most (the gateway takes up to 5,000; NATS requests must stay under max_payload). */
const CHUNK_EVENTS = 1000;
/** JSON bytes per request at most (a NATS server's default max_payload is 1 MiB). */
const CHUNK_BYTES = 512 * 1024;

/**
 * Splits events into consecutive requests of at most CHUNK_EVENTS events and CHUNK_BYTES of JSON
 * (an event larger than that goes alone; the gateway then says whether it is too large). A
 * `step.sendEvent` of 10,000 events was refused whole.
 */
function chunks(events: EventInput[]): string[] {
  const out: string[] = [];
  let part: string[] = [];
  let bytes = 2;
  for (const e of events) {
    const json = JSON.stringify(e);
    const size = Buffer.byteLength(json) + 1;
    if (part.length > 0 && (part.length >= CHUNK_EVENTS || bytes + size > CHUNK_BYTES)) {
      out.push(`[${part.join(",")}]`);
      part = [];
      bytes = 2;
    }
    part.push(json);
    bytes += size;
  }
  if (part.length > 0) out.push(`[${part.join(",")}]`);
  return out;
}

/**
 * Sends events by NATS request to the gateways' ingest subject (`jetstep.events`), as NATS
 * workers do: the same validation and `{ ids }` answer as `POST /e/…`. `request` sends the JSON
 * with the given headers (the current trace context) and resolves with the reply's bytes. Throws
 * SendEventError with the gateway's status and message, or status 503 when no gateway answers.
 */
export async function sendEventsOverNats(args: {
  subject: string;
  events: readonly EventInput[];
  now: () => number;
  request: (payload: string, headers: Record<string, string>) => Promise<Uint8Array>;
}): Promise<{ ids: string[] }> {
  if (args.events.length === 0) return { ids: [] };
  const ids: string[] = [];
  for (const body of chunks(eventBodies(args.events, args.now())))
    ids.push(...(await sendChunkOverNats(args.subject, body, args.request)));
  return { ids };
}

async function sendChunkOverNats(
  subject: string,
  body: string,
  request: (payload: string, headers: Record<string, string>) => Promise<Uint8Array>,
): Promise<string[]> {
  const args = { subject };
  let data: Uint8Array;
  try {
    data = await request(body, traceHeaders());
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    const noGateway = /no responders|503/i.test(message);
    throw new SendEventError(
      noGateway ? 503 : 0,
      noGateway
        ? `send(): no gateway answers on ${args.subject} (is a Jetstep gateway connected to this NATS?)`
        : `send(): NATS request to ${args.subject} failed: ${message}`,
      { cause },
    );
  }
  const text = new TextDecoder().decode(data);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const reply = replySchema.safeParse(json);
  if (!reply.success || reply.data.error !== undefined || (reply.data.status ?? 200) >= 300) {
    const status = reply.success ? (reply.data.status ?? 500) : 502;
    const message = reply.success && reply.data.error ? reply.data.error : text.slice(0, 500);
    throw new SendEventError(status, `send(): gateway answered ${status}: ${message}`);
  }
  return reply.data.ids;
}

/**
 * POSTs events to `${baseUrl}/e/${eventKey ?? "dev"}` as a JSON array (`data` defaults to `{}`, `ts`
 * to now) and returns the gateway's `{ ids }`, in input order; a long list goes as several requests
 * one after another (`chunks`). An empty list sends nothing.
 * Throws SendEventError: `status` 0 when the gateway can't be reached, else the HTTP status with the
 * gateway's `error` message. No retries here — inside `step.sendEvent` the step's retries apply.
 */
export async function sendEvents(args: {
  baseUrl: string;
  eventKey: string | undefined;
  events: readonly EventInput[];
  fetch: typeof fetch;
  now: () => number;
}): Promise<{ ids: string[] }> {
  if (args.events.length === 0) return { ids: [] };
  const url = `${args.baseUrl}/e/${encodeURIComponent(args.eventKey ?? "dev")}`;
  const ids: string[] = [];
  for (const body of chunks(eventBodies(args.events, args.now())))
    ids.push(...(await postChunk(url, body, args.fetch)));
  return { ids };
}

async function postChunk(url: string, body: string, fetchFn: typeof fetch): Promise<string[]> {
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: "POST",
      headers: { [Header.ContentType]: "application/json", [Header.Sdk]: SDK_IDENT, ...traceHeaders() },
      body,
    });
  } catch (cause) {
    throw new SendEventError(
      0,
      `send(): could not reach ${url}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === "" ? {} : JSON.parse(text);
  } catch {
    json = undefined;
  }
  const reply = replySchema.safeParse(json);
  if (!res.ok || !reply.success || reply.data.error !== undefined) {
    const message =
      reply.success && reply.data.error ? reply.data.error : text.slice(0, 500) || res.statusText;
    throw new SendEventError(res.status, `send(): gateway answered ${res.status}: ${message}`);
  }
  return reply.data.ids;
}
