/**
 * OpenTelemetry for Jetstep's services: `@opentelemetry/sdk-node` with the exporter the standard
 * `OTEL_*` variables choose (OTLP by default). It starts only when an exporter is configured, so
 * a dev machine without a collector sends nothing and logs no export errors.
 */
import { trace } from "@opentelemetry/api";
import { type IdGenerator, RandomIdGenerator } from "@opentelemetry/sdk-trace-base";

/**
 * Random ids, except for the next span when one is pinned: run spans (and the spans runs hang
 * from) have ids derived from the run id, so that every executor that drives a run, before and
 * after a crash, agrees on them. The tracer asks for ids synchronously inside `startSpan`.
 */
class PinnableIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private traceId: string | undefined;
  private spanId: string | undefined;

  pin(ids: { traceId?: string; spanId?: string }): void {
    this.traceId = ids.traceId;
    this.spanId = ids.spanId;
  }

  unpin(): void {
    this.traceId = undefined;
    this.spanId = undefined;
  }

  generateTraceId(): string {
    const id = this.traceId ?? this.random.generateTraceId();
    this.traceId = undefined;
    return id;
  }

  generateSpanId(): string {
    const id = this.spanId ?? this.random.generateSpanId();
    this.spanId = undefined;
    return id;
  }
}

const ids = new PinnableIdGenerator();

/**
 * The id generator `withPinnedIds` steers. `startTracing` installs it; a program that sets up its
 * own tracer provider around Jetstep's services passes it as `idGenerator`, or run spans get
 * random ids and their children lose their parent.
 */
export const jetstepIdGenerator: IdGenerator = ids;

/** Runs `start` (which must start exactly one span, synchronously) with the span's ids pinned. */
export function withPinnedIds<T>(pinned: { traceId?: string; spanId?: string }, start: () => T): T {
  ids.pin(pinned);
  try {
    return start();
  } finally {
    ids.unpin();
  }
}

type Env = Record<string, string | undefined>;

/** Whether the environment asks for trace export (an OTLP endpoint, or an explicit exporter). */
export function tracingConfigured(env: Env = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporters = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporters) return exporters !== "none";
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

export interface Tracing {
  /** Whether spans are exported. */
  enabled: boolean;
  /** Flushes spans not yet exported and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `service.name` unless `OTEL_SERVICE_NAME` says otherwise. */
  serviceName: string;
  env?: Env;
}

let active: { sdk: { shutdown(): Promise<void> }; tracing: Tracing } | undefined;

/**
 * Starts the OpenTelemetry SDK for this process when the environment configures an exporter
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER`);
 * otherwise spans stay no-ops. Protocol, headers, batching and sampling follow the `OTEL_*`
 * variables. Metrics and OTel logs are not exported (logs go to stdout with `traceId`).
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing> {
  if (active) return active.tracing;
  const env = opts.env ?? process.env;
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => undefined };
  // Loaded only when used: the SDK and its exporters take a while to import. CommonJS: its
  // exports are named in Node and under tsx, and only `default` in the bundled cli.js.
  const otel = await import("@opentelemetry/sdk-node");
  const NodeSDK = otel.NodeSDK ?? otel.default.NodeSDK;
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: opts.serviceName }),
    idGenerator: ids,
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const tracing: Tracing = {
    enabled: true,
    shutdown: async () => {
      if (active?.sdk !== sdk) return;
      active = undefined;
      await sdk.shutdown();
      trace.disable();
    },
  };
  active = { sdk, tracing };
  return tracing;
}
