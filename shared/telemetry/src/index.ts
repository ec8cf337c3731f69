export { createLogger, type Logger, type LoggerOptions, silentLogger } from "./logger.ts";
export {
  type AttemptOutcome,
  type GaugeName,
  GaugeNames,
  type GaugeReading,
  type GaugeSource,
  type Metrics,
  type MetricsOptions,
  metricsPushConfigured,
  noMetrics,
  PROMETHEUS_CONTENT_TYPE,
  type RunEnd,
  type RunMetrics,
  startMetrics,
} from "./metrics.ts";
export {
  jetstepIdGenerator,
  startTracing,
  type Tracing,
  type TracingOptions,
  tracingConfigured,
  withPinnedIds,
} from "./tracing.ts";
