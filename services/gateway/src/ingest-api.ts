/**
 * Event ingest over HTTP: `POST /e/:key` (an event key, as Inngest's event API) and
 * `POST /v1/events` (an API key instead: the UI's "Send event", operator scripts). Both answer
 * `{ids, status}`; the events are checked and stored by `ingest.ts`.
 */
import { MaxBodyBytes } from "@jetstep/core";
import type { Nats, Publisher } from "@jetstep/jetstream";
import type { Logger, RunMetrics } from "@jetstep/telemetry";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errorAnswer } from "./http-edge.ts";
import { IngestError, parseEvents, storeEvents } from "./ingest.ts";
import { maxMessageBytes } from "./message-size.ts";

export interface IngestRouteDeps {
  publisher: Publisher;
  nats: Nats;
  log: Logger;
  now: () => number;
  random: () => number;
  /** Accepted event keys for `/e/:key`; empty: any (dev). */
  eventKeys: readonly string[];
  /** Counts the events stored, by route (`http`, `api`). */
  metrics: Pick<RunMetrics, "eventsReceived">;
}

export function registerIngestRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: IngestRouteDeps,
): void {
  const { publisher, now, random } = deps;
  const ingestEvents = (source: "http" | "api") => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      const text = typeof req.body === "string" ? req.body : "";
      const events = parseEvents(text, now, random, maxMessageBytes(deps.nats));
      const traceparent = req.headers.traceparent;
      await storeEvents(publisher, events, typeof traceparent === "string" ? { traceparent } : undefined);
      deps.metrics.eventsReceived(source, events.length);
      return { ids: events.map((e) => e.id), status: 200 };
    } catch (e) {
      if (e instanceof IngestError)
        return reply.status(e.status).send({ ids: [], status: e.status, error: e.message });
      throw e;
    }
  };
  const errorHandler = (err: Error, req: FastifyRequest, reply: FastifyReply) => {
    const { status, error } = errorAnswer(err, req);
    if (status >= 500) deps.log.error({ err }, "event ingest failed");
    void reply.status(status).send({ ids: [], status, error });
  };
  app.post<{ Params: { key: string } }>(
    "/e/:key",
    {
      bodyLimit: MaxBodyBytes.events,
      // The key is checked before the body is read: a wrong key costs the server no memory.
      onRequest: async (req, reply) => {
        if (deps.eventKeys.length > 0 && !deps.eventKeys.includes(req.params.key))
          return reply.status(401).send({ ids: [], status: 401, error: "key: unknown event key" });
      },
      errorHandler,
    },
    ingestEvents("http"),
  );
  // The same for holders of an API key (the UI's "Send event", scripts with operator access):
  // no event key needed, since the API key already allows starting any function.
  app.post("/v1/events", { bodyLimit: MaxBodyBytes.events, errorHandler }, ingestEvents("api"));
}
