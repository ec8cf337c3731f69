/**
 * jetstep — the SDK for Jetstep, a self-hosted durable-functions runtime speaking Inngest's protocol.
 * Public surface: the client, function definitions, step tools, serve adapters, the NATS worker and
 * errors.
 */
export type { DeferContext, DeferParent } from "./client.ts";
export { Jetstep } from "./client.ts";
export type { ClientSettings, JetstepOptions } from "./client-options.ts";
export type { ServeOptions } from "./comm-handler.ts";
export type { DeferFn, DeferHandle, DeferTarget } from "./defer.ts";
export type { DurationInput } from "./duration.ts";
export {
  BodyTooLargeError,
  ErrorCode,
  InvalidCallError,
  InvalidConfigError,
  InvalidDurationError,
  JetstepError,
  SendEventError,
  StepError,
} from "./errors.ts";
export type {
  FailureContext,
  FailureHandler,
  FunctionContext,
  FunctionFailedData,
  Handler,
} from "./function.ts";
export { JetstepFunction } from "./function.ts";
export type {
  CronTrigger,
  EventTrigger,
  FunctionConfig,
  FunctionConfigInput,
  Trigger,
  TriggerInput,
} from "./function-config.ts";
export type { LogFn, Logger } from "./logger.ts";
export type { ExpressLikeRequest } from "./serve-express.ts";
export { serveExpress } from "./serve-express.ts";
export type {
  FastifyLikeInstance,
  FastifyLikeReply,
  FastifyLikeRequest,
  FastifyServeOptions,
} from "./serve-fastify.ts";
export { fastifyPlugin, serveFastify } from "./serve-fastify.ts";
export { serve } from "./serve-node.ts";
export type { EventInput, FunctionReference, InvokeTarget, StepIdInput, StepTools } from "./step-tools.ts";
export { referenceFunction } from "./step-tools.ts";

export { NonRetriableError, RetryAfterError } from "./user-errors.ts";
export { SDK_VERSION } from "./version.ts";
export type { JetstepEvent, OutgoingOp, SerializedError } from "./wire.ts";
export type { WorkerHandle, WorkerOptions } from "./worker.ts";
export { DEFAULT_HEARTBEAT_MS, worker } from "./worker.ts";
export type { RegistrationOutcome } from "./worker-register.ts";
