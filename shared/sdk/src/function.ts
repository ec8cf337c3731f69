import type { DeferFn } from "./defer.ts";
import type { FunctionConfig, Trigger } from "./function-config.ts";
import type { Logger } from "./logger.ts";
import type { StepTools } from "./step-tools.ts";
import type { JetstepEvent } from "./wire.ts";

/** What a handler receives. */
export interface FunctionContext<TData = Record<string, unknown>> {
  /** The triggering event (the first of `events` for batches). */
  event: JetstepEvent<TData>;
  /** All events of this run: one, or a batch when `batchEvents` is set. */
  events: JetstepEvent<TData>[];
  step: StepTools;
  /** Runs a function made with `client.createDefer` once this run has ended (see defer.ts). */
  defer: DeferFn;
  runId: string;
  /** 0-based attempt of the step being executed (attempts are counted per step). */
  attempt: number;
  /** Child logger with `runId` and `fnId`; silent while memoized steps replay. */
  logger: Logger;
}

/** What an `onFailure` handler receives: `event` is the `inngest/function.failed` event. */
export interface FailureContext extends FunctionContext<FunctionFailedData> {
  /** The error the function failed with, rebuilt from `event.data.error`. */
  error: Error;
}

/** Data of the `inngest/function.failed` event. */
export interface FunctionFailedData extends Record<string, unknown> {
  function_id: string;
  run_id: string;
  error: { name?: string; message?: string; stack?: string };
  event: JetstepEvent;
}

export type Handler<TData = Record<string, unknown>, TResult = unknown> = (
  ctx: FunctionContext<TData>,
) => TResult | Promise<TResult>;
export type FailureHandler = (ctx: FailureContext) => unknown;

/**
 * A function created by `Jetstep.createFunction`: validated, frozen config plus its handler. Pass it
 * to `serve()`, or to `step.invoke` as the target.
 */
export class JetstepFunction<TData = Record<string, unknown>, TResult = unknown> {
  /** The id given in the config. */
  readonly id: string;
  /** `<appId>-<id>`: the id on the wire and in the executor. */
  readonly wireId: string;
  readonly appId: string;
  readonly config: Readonly<FunctionConfig>;
  readonly triggers: readonly Readonly<Trigger>[];
  readonly handler: Handler<TData, TResult>;

  constructor(args: {
    appId: string;
    config: FunctionConfig;
    triggers: Trigger[];
    handler: Handler<TData, TResult>;
  }) {
    this.appId = args.appId;
    this.id = args.config.id;
    this.wireId = `${args.appId}-${args.config.id}`;
    this.config = Object.freeze({ ...args.config });
    this.triggers = Object.freeze(args.triggers.map((t) => Object.freeze({ ...t })));
    this.handler = args.handler;
  }

  /** The wire id of this function's failure handler, when it has one. */
  get failureWireId(): string | undefined {
    return this.config.onFailure ? `${this.wireId}${FAILURE_SUFFIX}` : undefined;
  }
}

/** Suffix of a failure handler's function id. */
export const FAILURE_SUFFIX = "-failure";
