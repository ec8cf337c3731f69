/**
 * NATS ingestion: services publish events to `jetstep.events` / `jetstep.events.>` instead of
 * POSTing them. Same validation and storage as `POST /e/:key`. A request gets `{ids, status: 200}`
 * or `{ids: [], status, error}`; a plain publish that is rejected is stored in DEAD_LETTERS with
 * the reason and the original payload — never silently dropped. Gateways share the subscription
 * through a queue group, so each message is handled once.
 */
import { Subjects } from "@jetstep/core";
import type { Nats, Publisher } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { IngestError, parseEvents, storeEvents } from "./ingest.ts";

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
}): NatsIngest {
  const log = deps.log.child({ svc: "nats-ingest" });
  const handle = async (
    subject: string,
    data: Uint8Array,
    reply: string | undefined,
    traceparent: string | undefined,
  ) => {
    const text = new TextDecoder().decode(data);
    const respond = (body: unknown) => {
      if (reply) deps.nats.nc.publish(reply, JSON.stringify(body));
    };
    try {
      const events = parseEvents(text, deps.now, deps.random);
      await storeEvents(deps.publisher, events, traceparent ? { traceparent } : undefined);
      respond({ ids: events.map((e) => e.id), status: 200 });
    } catch (e) {
      const status = e instanceof IngestError ? e.status : 500;
      const error = (e as Error).message;
      if (reply) {
        respond({ ids: [], status, error });
        return;
      }
      const letter = {
        reason: error,
        status,
        subject,
        payload: text,
        at: new Date(deps.now()).toISOString(),
      };
      const stored = await deps.publisher
        .publish(Subjects.deadLetter("ingest"), JSON.stringify(letter))
        .catch(() => null);
      if (stored?.ok)
        log.warn({ subject, reason: error }, "rejected event published on NATS; stored in DEAD_LETTERS");
      else
        log.error({ subject, reason: error }, "rejected event published on NATS could not be dead-lettered");
    }
  };
  const subs = [Subjects.ingest, Subjects.ingestAll].map((subject) =>
    deps.nats.nc.subscribe(subject, {
      queue: INGEST_QUEUE,
      callback: (_err, m) => {
        void handle(m.subject, m.data, m.reply, m.headers?.get("traceparent") || undefined);
      },
    }),
  );
  return {
    stop() {
      for (const s of subs) s.unsubscribe();
    },
  };
}
