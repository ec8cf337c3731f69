/**
 * The example services' own OpenTelemetry: started only when OTEL_EXPORTER_OTLP_ENDPOINT is set
 * (docker compose points it at Jaeger). Jetstep sends each call with its step span's
 * `traceparent` and the SDK runs the function in that context, so spans made here appear under
 * the step in the run's trace.
 */
import { NodeSDK } from "@opentelemetry/sdk-node";

export function startServiceTracing(service: string): { shutdown(): Promise<void> } | undefined {
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  const sdk = new NodeSDK({
    ...(process.env.OTEL_SERVICE_NAME ? {} : { serviceName: `shop-${service}` }),
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return sdk;
}
