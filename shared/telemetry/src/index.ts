export { createLogger, type Logger, type LoggerOptions, silentLogger } from "./logger.ts";
export {
  jetstepIdGenerator,
  startTracing,
  type Tracing,
  type TracingOptions,
  tracingConfigured,
  withPinnedIds,
} from "./tracing.ts";
