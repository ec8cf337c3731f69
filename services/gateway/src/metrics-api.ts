/**
 * `GET /metrics`: this process's metrics in the Prometheus text format (a read key is needed
 * wherever API keys are, as for every GET of the API), plus the lag of Jetstep's durable consumers
 * (the matcher's on EVENTS and each run partition's on INBOX), read from NATS at each scrape: the
 * deployment's backlog, whichever process holds it.
 */
import { Streams } from "@jetstep/core";
import type { ConsumerLag } from "@jetstep/jetstream";
import { GaugeNames, type GaugeReading, type Metrics, PROMETHEUS_CONTENT_TYPE } from "@jetstep/telemetry";
import type { FastifyInstance } from "fastify";

export interface MetricsRouteDeps {
  metrics: Pick<Metrics, "run" | "prometheusText">;
  /** Every durable consumer's lag (NATS). */
  consumerLags(): Promise<ConsumerLag[]>;
}

export function registerMetricsRoute(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: MetricsRouteDeps,
): void {
  const dropGauges = deps.metrics.run.addGauges(async () => lagReadings(await deps.consumerLags()));
  app.addHook("onClose", async () => dropGauges());
  app.get("/metrics", async (_req, reply) =>
    reply.type(PROMETHEUS_CONTENT_TYPE).send(await deps.metrics.prometheusText()),
  );
}

/** Consumer lags as gauges; a partition's backlog is what its INBOX consumer has not acked. */
export function lagReadings(lags: readonly ConsumerLag[]): GaugeReading[] {
  const out: GaugeReading[] = [];
  for (const l of lags) {
    const attributes = { stream: l.stream, consumer: l.consumer };
    out.push({ name: GaugeNames.consumerPending, value: l.pending, attributes });
    out.push({ name: GaugeNames.consumerAckPending, value: l.ackPending, attributes });
    const partition = l.stream === Streams.inbox ? /^inbox-p(\d+)$/.exec(l.consumer)?.[1] : undefined;
    if (partition !== undefined)
      out.push({
        name: GaugeNames.partitionBacklog,
        value: l.pending + l.ackPending,
        attributes: { partition },
      });
  }
  return out;
}
