/**
 * Jetstep's metrics: one set of OpenTelemetry instruments per process, read two ways.
 * - Pulled: `prometheusText()` renders them in the Prometheus text format (`GET /metrics` on the
 *   gateway and on `--health-port`). Always on; an instrument costs a map lookup when recorded.
 * - Pushed: OTLP, when the environment asks for it (`OTEL_METRICS_EXPORTER=otlp`, or
 *   `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), at `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s), over
 *   the protocol `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL` names.
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` alone does not turn it on: it is often a trace-only collector
 *   (Jaeger), which would refuse every export.
 *
 * Services record through `RunMetrics` (typed methods, so the names and labels live here) and
 * report gauges read at collection time through `addGauges`.
 */
import type { Attributes, Counter, Histogram, Meter, ObservableGauge } from "@opentelemetry/api";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  InstrumentType,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from "@opentelemetry/sdk-metrics";

type Env = Record<string, string | undefined>;

/** How a run ended. */
export type RunEnd = "completed" | "failed" | "cancelled";
/** What one attempt of a step came to: done, failed for now (retried), or failed for good. */
export type AttemptOutcome = "completed" | "errored" | "failed";
/** Gauges read when metrics are collected (`addGauges`). */
export const GaugeNames = {
  /** Messages of a stream a durable consumer has not been delivered yet. */
  consumerPending: "jetstep.consumer.pending",
  /** Messages a durable consumer was delivered and has not acked yet. */
  consumerAckPending: "jetstep.consumer.ack_pending",
  /** Commands waiting in a run partition's INBOX (its consumer's pending). */
  partitionBacklog: "jetstep.partition.backlog",
  /** Calls waiting for a concurrency slot of a key, in this executor. */
  concurrencyWaiting: "jetstep.concurrency.waiting",
  /** Slots of a concurrency key in use, in this executor. */
  concurrencyInUse: "jetstep.concurrency.in_use",
  /** Timers armed and not yet handled, in this executor. */
  timersPending: "jetstep.timers.pending",
} as const;
export type GaugeName = (typeof GaugeNames)[keyof typeof GaugeNames];

export interface GaugeReading {
  name: GaugeName;
  value: number;
  attributes?: Attributes;
}

/** What a gauge source reports when metrics are collected (it may read NATS). */
export type GaugeSource = () => GaugeReading[] | Promise<GaugeReading[]>;

export interface RunMetrics {
  runStarted(fn: string, app: string): void;
  runEnded(fn: string, app: string, status: RunEnd, durationMs: number): void;
  stepAttempt(fn: string, app: string, outcome: AttemptOutcome, durationMs: number): void;
  /** A call to an app that brought back no answer of the app's code, by why (core's `CallFailure`). */
  appCallError(fn: string, app: string, errorClass: string): void;
  /** Events accepted, by where they came in (`http`, `nats`, `api`, `internal`). */
  eventsReceived(source: string, count: number): void;
  /** How late a timer fired (its handling began after its due time). */
  timerFired(latenessMs: number): void;
  /** Adds gauges read at every collection; returns their removal. */
  addGauges(source: GaugeSource): () => void;
}

// Seconds, from 5 ms to an hour: steps take milliseconds to minutes, runs up to days.
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const LATENESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

class MeterMetrics implements RunMetrics {
  private readonly runsStarted: Counter;
  private readonly runsEnded: Counter;
  private readonly runDuration: Histogram;
  private readonly stepAttempts: Counter;
  private readonly stepDuration: Histogram;
  private readonly callErrors: Counter;
  private readonly events: Counter;
  private readonly lateness: Histogram;
  private readonly gauges: Record<GaugeName, ObservableGauge>;
  private readonly sources = new Set<GaugeSource>();

  constructor(meter: Meter) {
    this.runsStarted = meter.createCounter("jetstep.runs.started", { description: "Runs scheduled" });
    this.runsEnded = meter.createCounter("jetstep.runs.ended", { description: "Runs ended, by status" });
    this.runDuration = meter.createHistogram("jetstep.run.duration_seconds", {
      description: "From a run's schedule to its end",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.stepAttempts = meter.createCounter("jetstep.step.attempts", {
      description: "Step attempts recorded, by outcome",
    });
    this.stepDuration = meter.createHistogram("jetstep.step.duration_seconds", {
      description: "One step attempt, from its call to its recorded outcome",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.callErrors = meter.createCounter("jetstep.app.call.errors", {
      description: "Calls to apps that failed outside the app's code, by class",
    });
    this.events = meter.createCounter("jetstep.events.received", { description: "Events accepted" });
    this.lateness = meter.createHistogram("jetstep.timer.lateness_seconds", {
      description: "How long after its due time a timer fired",
      unit: "s",
      advice: { explicitBucketBoundaries: LATENESS_BUCKETS },
    });
    const gauge = (name: GaugeName, description: string) =>
      meter.createObservableGauge(name, { description });
    this.gauges = {
      [GaugeNames.consumerPending]: gauge(GaugeNames.consumerPending, "Messages not delivered yet"),
      [GaugeNames.consumerAckPending]: gauge(GaugeNames.consumerAckPending, "Messages delivered, not acked"),
      [GaugeNames.partitionBacklog]: gauge(GaugeNames.partitionBacklog, "Commands waiting in a partition"),
      [GaugeNames.concurrencyWaiting]: gauge(GaugeNames.concurrencyWaiting, "Calls waiting for a slot"),
      [GaugeNames.concurrencyInUse]: gauge(GaugeNames.concurrencyInUse, "Concurrency slots in use"),
      [GaugeNames.timersPending]: gauge(GaugeNames.timersPending, "Timers armed, not handled"),
    };
    meter.addBatchObservableCallback(async (result) => {
      const readings = await Promise.all(
        [...this.sources].map(async (s) => {
          try {
            return await s();
          } catch {
            // A source that cannot read now (NATS away) reports nothing this time.
            return [];
          }
        }),
      );
      for (const r of readings.flat()) result.observe(this.gauges[r.name], r.value, r.attributes);
    }, Object.values(this.gauges));
  }

  runStarted(fn: string, app: string): void {
    this.runsStarted.add(1, { function: fn, app });
  }

  runEnded(fn: string, app: string, status: RunEnd, durationMs: number): void {
    const attributes = { function: fn, app, status };
    this.runsEnded.add(1, attributes);
    this.runDuration.record(Math.max(0, durationMs) / 1000, attributes);
  }

  stepAttempt(fn: string, app: string, outcome: AttemptOutcome, durationMs: number): void {
    const attributes = { function: fn, app, outcome };
    this.stepAttempts.add(1, attributes);
    this.stepDuration.record(Math.max(0, durationMs) / 1000, attributes);
  }

  appCallError(fn: string, app: string, errorClass: string): void {
    this.callErrors.add(1, { function: fn, app, class: errorClass });
  }

  eventsReceived(source: string, count: number): void {
    if (count > 0) this.events.add(count, { source });
  }

  timerFired(latenessMs: number): void {
    this.lateness.record(Math.max(0, latenessMs) / 1000);
  }

  addGauges(source: GaugeSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }
}

/** Metrics that record nothing (tests and tools that build a service alone). */
export const noMetrics: RunMetrics = {
  runStarted: () => undefined,
  runEnded: () => undefined,
  stepAttempt: () => undefined,
  appCallError: () => undefined,
  eventsReceived: () => undefined,
  timerFired: () => undefined,
  addGauges: () => () => undefined,
};

/**
 * A reader collected on demand (the Prometheus text). Counters and histograms are cumulative, as
 * Prometheus wants; gauges are delta, so a series no source reports any more (a partition given
 * up, a concurrency key gone idle) leaves the text instead of repeating its last value forever.
 */
class PullReader extends MetricReader {
  constructor() {
    super({
      aggregationTemporalitySelector: (type) =>
        type === InstrumentType.OBSERVABLE_GAUGE
          ? AggregationTemporality.DELTA
          : AggregationTemporality.CUMULATIVE,
    });
  }

  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface Metrics {
  /** The instruments, for services to record through. */
  readonly run: RunMetrics;
  /** Whether they are also pushed over OTLP. */
  readonly pushed: boolean;
  /** Everything recorded so far, in the Prometheus text format (version 0.0.4). */
  prometheusText(): Promise<string>;
  /** Pushes what is left (OTLP) and stops. */
  shutdown(): Promise<void>;
}

export interface MetricsOptions {
  /** `service.name` unless `OTEL_SERVICE_NAME` says otherwise. */
  serviceName: string;
  env?: Env;
}

/** The content type of `prometheusText()`. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Whether the environment asks for metrics over OTLP. */
export function metricsPushConfigured(env: Env = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_METRICS_EXPORTER ?? "").split(",").map((s) => s.trim());
  if (exporters.includes("none")) return false;
  return exporters.includes("otlp") || Boolean(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim());
}

/** Starts this process's metrics (see the module's comment). */
export async function startMetrics(opts: MetricsOptions): Promise<Metrics> {
  const env = opts.env ?? process.env;
  const pull = new PullReader();
  const readers: MetricReader[] = [pull];
  const pushed = metricsPushConfigured(env);
  if (pushed) {
    const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: await otlpExporter(env),
        ...(interval > 0 ? { exportIntervalMillis: interval } : {}),
      }),
    );
  }
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || opts.serviceName }),
    readers,
  });
  const run = new MeterMetrics(provider.getMeter("jetstep"));
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true);
  return {
    run,
    pushed,
    prometheusText: async () => serializer.serialize((await pull.collect()).resourceMetrics),
    shutdown: () => provider.shutdown(),
  };
}

/** The OTLP metric exporter for the protocol the environment names (default http/protobuf). */
async function otlpExporter(env: Env): Promise<PushMetricExporter> {
  const protocol = (env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "")
    .trim()
    .toLowerCase();
  // Loaded only when used; each reads its headers and timeout from OTEL_* itself (and its
  // endpoint, unless `env` names one). They are CommonJS: their exports are named in Node and
  // under tsx, and only `default` in the bundled cli.js.
  const url = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim();
  const config = url ? { url } : {};
  const exporter =
    protocol === "grpc"
      ? await import("@opentelemetry/exporter-metrics-otlp-grpc")
      : protocol === "http/json"
        ? await import("@opentelemetry/exporter-metrics-otlp-http")
        : await import("@opentelemetry/exporter-metrics-otlp-proto");
  const OTLPMetricExporter = exporter.OTLPMetricExporter ?? exporter.default.OTLPMetricExporter;
  return new OTLPMetricExporter(config);
}
