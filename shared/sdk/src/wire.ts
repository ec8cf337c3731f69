/**
 * Names and shapes of the Inngest-compatible wire protocol (see docs/PROTOCOL.md).
 * Everything the SDK writes to or reads from the wire is named here, nowhere else.
 */

import { CALL_SIGNATURE_HEADER, InternalEvents, OpCodes } from "@jetstep/core/protocol";

/** HTTP header names (lower case, as node delivers them). */
export const Header = {
  ContentType: "content-type",
  Sdk: "x-inngest-sdk",
  Framework: "x-inngest-framework",
  ReqVersion: "x-inngest-req-version",
  NoRetry: "x-inngest-no-retry",
  RetryAfter: "retry-after",
  /** Our call signature (method, path, query, body, time); see `callSignedText` in core. */
  CallSignature: CALL_SIGNATURE_HEADER,
  StepId: "x-inngest-step-id",
  SyncKind: "x-inngest-sync-kind",
  ServerKind: "x-inngest-server-kind",
  ExpectedServerKind: "x-inngest-expected-server-kind",
  ForwardedProto: "x-forwarded-proto",
  Authorization: "authorization",
} as const;
export type Header = (typeof Header)[keyof typeof Header];

/** Query parameters of the app URL. */
export const Query = { FnId: "fnId", StepId: "stepId", DeployId: "deployId" } as const;
export type Query = (typeof Query)[keyof typeof Query];

/** The `stepId` value meaning "discover" rather than "run this planned step". */
export const DISCOVERY_STEP_ID = "step";

/** The execution version we answer with (`x-inngest-req-version`), as the official v4 SDK does. */
export const EXECUTION_VERSION = 2;

/** Op codes the SDK emits (core's `OpCodes`, the server's vocabulary, under the SDK's names). */
export const StepOpCode = {
  StepRun: OpCodes.stepRun,
  StepPlanned: OpCodes.stepPlanned,
  StepError: OpCodes.stepError,
  StepFailed: OpCodes.stepFailed,
  Sleep: OpCodes.sleep,
  WaitForEvent: OpCodes.waitForEvent,
  InvokeFunction: OpCodes.invokeFunction,
  RunComplete: OpCodes.runComplete,
  DeferAdd: OpCodes.deferAdd,
  DeferAbort: OpCodes.deferAbort,
} as const;
export type StepOpCode = (typeof StepOpCode)[keyof typeof StepOpCode];

/** Internal event names the SDK needs (core's `InternalEvents`). */
export const InternalEvent = {
  FunctionFailed: InternalEvents.functionFailed,
  FunctionInvoked: InternalEvents.functionInvoked,
  ScheduledTimer: InternalEvents.scheduledTimer,
  DeferredSchedule: InternalEvents.deferredSchedule,
} as const;
export type InternalEvent = (typeof InternalEvent)[keyof typeof InternalEvent];

/** An error as it travels on the wire (`serializeError` output). */
export interface SerializedError {
  name: string;
  message: string;
  stack: string;
  __serialized: true;
  cause?: unknown;
  [key: string]: unknown;
}

/** One op in a 206 answer. Field presence mirrors the official SDK's answers. */
export interface OutgoingOp {
  id: string;
  op: StepOpCode;
  name?: string;
  displayName?: string;
  opts?: Record<string, unknown>;
  userland?: { id: string; index?: number };
  data?: unknown;
  error?: SerializedError;
  /** The span id the step ran under (checkpointing calls with a trace): Jetstep records the step's span with it. */
  span_id?: string;
}

/** An event as sent to and received from the gateway. */
export interface JetstepEvent<TData = Record<string, unknown>> {
  id?: string;
  name: string;
  data: TData;
  user?: Record<string, unknown>;
  ts?: number;
  v?: string;
}
