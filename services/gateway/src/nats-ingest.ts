/**
 * NATS ingestion: services publish events to `jetstep.events` / `jetstep.events.>` instead of
 * POSTing them. Same validation and storage as `POST /e/:key`. A request gets `{ids, status: 200}`
 * or `{ids: [], status, error}`; a plain publish that is rejected is stored in DEAD_LETTERS with
 * the reason and the original payload (cut to fit one message, and marked so when it does not) —
 * never silently dropped. Gateways share the subscription through a queue group, so each message
 * is handled once. With event keys (`jetstep start`), a message must carry one in the
 * `Jetstep-Event-Key` header (401 otherwise), as `POST /e/:key` must in its path.
 */
import { Headers, Subjects } from "@jetstep/core";
import { type BusMessage, deadLetterJson, type Nats, type Publisher, subscribe } from "@jetstep/jetstream";
import type { Logger, RunMetrics } from "@jetstep/telemetry";
import { IngestError, parseEvents, storeEvents } from "./ingest.ts";
import { maxMessageBytes } from "./message-size.ts";

export const INGEST_QUEUE = "jetstep-ingest";

export interface NatsIngest {
  stop(): void;
}

export function startNatsIngest(deps: {
  nats: Nats;
  publisher: Publisher;
  log: Logger;
  now: () => number;
  random: () => number;
  /** Accepted event keys; empty: any (dev). */
  eventKeys?: readonly string[];
  /** Counts the events stored. */
  metrics?: Pick<RunMetrics, "eventsReceived">;
}): NatsIngest {
  const keys = new Set(deps.eventKeys ?? []);
  const log = deps.log.child({ svc: "nats-ingest" });
  const deadLetter = async (subject: string, text: string, status: number, reason: string) => {
    const at = new Date(deps.now()).toISOString();
    const letter = deadLetterJson({ reason, status, subject, at }, text, maxMessageBytes(deps.nats));
    const stored = await deps.publisher.publish(Subjects.deadLetter("ingest"), letter).catch((err) => {
      log.error({ err, subject }, "could not publish a dead letter");
      return null;
    });
    if (stored?.ok) log.warn({ subject, reason }, "rejected event published on NATS; stored in DEAD_LETTERS");
    else log.error({ subject, reason }, "rejected event published on NATS could not be dead-lettered");
  };
  const handle = async (m: BusMessage) => {
    const text = new TextDecoder().decode(m.data);
    let answer: { ids: string[]; status: number; error?: string };
    try {
      if (keys.size > 0 && !keys.has(m.headers?.get(Headers.eventKey) ?? ""))
        throw new IngestError(401, `key: the ${Headers.eventKey} header is missing or not a known event key`);
      const events = parseEvents(text, deps.now, deps.random, maxMessageBytes(deps.nats));
      const traceparent = m.headers?.get("traceparent") || undefined;
      await storeEvents(deps.publisher, events, traceparent ? { traceparent } : undefined);
      deps.metrics?.eventsReceived("nats", events.length);
      answer = { ids: events.map((e) => e.id), status: 200 };
    } catch (e) {
      const status = e instanceof IngestError ? e.status : 500;
      if (status >= 500) log.error({ err: e, subject: m.subject }, "could not store events sent over NATS");
      answer = { ids: [], status, error: (e as Error).message };
    }
    if (!m.reply) {
      if (answer.error !== undefined) await deadLetter(m.subject, text, answer.status, answer.error);
      return;
    }
    try {
      m.respond(JSON.stringify(answer));
    } catch (err) {
      log.error({ err, subject: m.subject }, "could not answer an ingest request");
    }
  };
  const subs = [Subjects.ingest, Subjects.ingestAll].map((subject) =>
    subscribe(deps.nats, subject, (m) => void handle(m), {
      queue: INGEST_QUEUE,
      onError: (err) => log.error({ err, subject }, "ingest subscription failed"),
    }),
  );
  return {
    stop() {
      for (const s of subs) s.unsubscribe();
    },
  };
}
