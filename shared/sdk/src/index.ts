/**
 * jetstep — the SDK for Jetstep, a self-hosted durable-functions runtime speaking Inngest's protocol.
 * Public surface: the client, function definitions, step tools, serve adapters and errors.
 */
export { Jetstep } from "./client.ts";
export type { JetstepOptions, ClientSettings } from "./client-options.ts";
export { JetstepFunction } from "./function.ts";
export type { FunctionContext, FailureContext, FunctionFailedData, Handler, FailureHandler } from "./function.ts";
export type { FunctionConfigInput, FunctionConfig, Trigger, TriggerInput, EventTrigger, CronTrigger } from "./function-config.ts";
export { referenceFunction } from "./step-tools.ts";
export type { StepTools, StepIdInput, EventInput, InvokeTarget, FunctionReference } from "./step-tools.ts";
export type { DurationInput } from "./duration.ts";
export type { JetstepEvent, OutgoingOp, SerializedError } from "./wire.ts";
export type { Logger, LogFn } from "./logger.ts";

export { serve } from "./serve-node.ts";
export { serveExpress } from "./serve-express.ts";
export type { ExpressLikeRequest } from "./serve-express.ts";
export { serveFastify, fastifyPlugin } from "./serve-fastify.ts";
export type { FastifyLikeInstance, FastifyLikeReply, FastifyLikeRequest, FastifyServeOptions } from "./serve-fastify.ts";
export type { ServeOptions } from "./comm-handler.ts";

export { NonRetriableError, RetryAfterError } from "./user-errors.ts";
export {
  ErrorCode,
  JetstepError,
  StepError,
  InvalidConfigError,
  InvalidDurationError,
  InvalidCallError,
  SendEventError,
  BodyTooLargeError,
} from "./errors.ts";
export { SDK_VERSION } from "./version.ts";
