import { type DurationInput, toTimeString } from "./duration.ts";
import { InvalidConfigError } from "./errors.ts";
import { type JetstepEvent, StepOpCode } from "./wire.ts";

/** A step's id, or its id and a display name. Ids must be stable across calls of the handler. */
export type StepIdInput = string | { id: string; name?: string };

/** An event to send: `data` defaults to `{}`, `ts` to now; a given `id` deduplicates for 24 h. */
export interface EventInput<TData = Record<string, unknown>> {
  id?: string;
  name: string;
  data?: TData;
  user?: Record<string, unknown>;
  ts?: number;
  v?: string;
}

/** A function to invoke: a function object from `createFunction`, or a reference by id. */
export type InvokeTarget = { readonly wireId: string } | FunctionReference;

/** A reference to a function by id, possibly of another app (see {@link referenceFunction}). */
export interface FunctionReference {
  readonly functionId: string;
  /** Defaults to the invoking client's app id. */
  readonly appId?: string;
}

/** Refers to a function by id (in this app unless `appId` is given), for `step.invoke`. */
export function referenceFunction(ref: { functionId: string; appId?: string }): FunctionReference {
  return Object.freeze({ ...ref });
}

/** Options of `step.run`. */
export interface StepRunOptions<T> {
  /**
   * Saga compensation (a Jetstep extension): undoes this step's effect. When the run fails for
   * good (or is cancelled, with `compensateOnCancel`), the runtime calls the compensations of the
   * completed steps in reverse order of completion, each durably and retried like a step, with the
   * step's recorded result. It must be idempotent.
   */
  compensate?: (result: T) => unknown;
}

/**
 * The step tools in a handler's context. Every tool is durable: its result is recorded by the
 * executor and, when the handler is called again, returned from that record without re-running it.
 * Ids must be unique per run; repeating an id is allowed and becomes `id:1`, `id:2`, …
 */
export interface StepTools {
  /**
   * Runs `fn` once (retrying it on error up to the function's `retries`) and returns its result as
   * JSON (`undefined` → `null`, Dates → strings). Errors: after the last attempt, or at once for a
   * NonRetriableError, the step fails and this call throws a StepError carrying the original
   * name/message; a RetryAfterError delays the next attempt. A result that can't be JSON-serialized
   * fails the step without retry.
   */
  run<T>(id: StepIdInput, fn: () => T | Promise<T>, opts?: StepRunOptions<Awaited<T>>): Promise<Awaited<T>>;
  /** Pauses the run for `duration` (ms or `"30s"`, `"2h45m"`, `"1d"`; 1 s resolution). */
  sleep(id: StepIdInput, duration: DurationInput): Promise<void>;
  /** Pauses the run until `until` (a Date or a date string); a past time resumes at once. */
  sleepUntil(id: StepIdInput, until: Date | string): Promise<void>;
  /**
   * Waits for an event named `event` for at most `timeout`; resolves with it, or `null` on timeout.
   * `match: "data.userId"` requires `event.data.userId == async.data.userId`; `if` is a CEL
   * expression over `event` (the trigger) and `async` (the candidate). `match` wins over `if`.
   */
  waitForEvent<TData = Record<string, unknown>>(
    id: StepIdInput,
    opts: { event: string; timeout: DurationInput | Date; match?: string; if?: string },
  ): Promise<JetstepEvent<TData> | null>;
  /**
   * Runs another function with `data` as its event data and returns its result. Throws a StepError
   * if it fails, or one named `InngestInvokeTimeoutError` when `timeout` passes first.
   */
  invoke<TResult = unknown>(
    id: StepIdInput,
    opts: {
      function: InvokeTarget;
      data?: Record<string, unknown>;
      timeout?: DurationInput | Date;
      v?: string;
    },
  ): Promise<TResult>;
  /** Sends events once (a durable step) and returns their ids. Fails/retries like `step.run`. */
  sendEvent(id: StepIdInput, events: EventInput | EventInput[]): Promise<{ ids: string[] }>;
}

/** What a step tool asks the execution for. */
export interface StepRequest {
  /** The user's id, before de-duplication. */
  id: string;
  displayName: string;
  op: StepOpCode;
  /** The op's wire `name` (absent for invoke, as in the official SDK). */
  opName?: string;
  opts: Record<string, unknown>;
  /** The work of a `StepPlanned` step; executed when the executor asks for it. */
  run?: () => unknown;
  /** `step.run`'s compensation, called with the step's recorded result when the executor asks. */
  compensate?: (result: unknown) => unknown;
}

/** Registers a step with the execution; resolves with its memoized data or rejects with a StepError. */
export type RegisterStep = (request: StepRequest) => Promise<unknown>;

/** Builds the step tools over an execution's `register`. */
export function createStepTools(deps: {
  register: RegisterStep;
  appId: string;
  sendEvents: (events: EventInput[]) => Promise<{ ids: string[] }>;
}): StepTools {
  const { register } = deps;
  // Each tool validates its arguments and registers its request; bad arguments reject its promise.
  return {
    run: async <T>(
      idInput: StepIdInput,
      fn: () => T | Promise<T>,
      opts?: StepRunOptions<Awaited<T>>,
    ): Promise<Awaited<T>> => (await register(runRequest(idInput, fn, opts))) as Awaited<T>,
    sleep: async (idInput, duration) => {
      const { id, displayName } = readId(idInput);
      await register({ id, displayName, op: StepOpCode.Sleep, opName: toTimeString(duration), opts: {} });
    },
    sleepUntil: async (idInput, until) => {
      await register(sleepUntilRequest(idInput, until));
    },
    waitForEvent: async <TData>(idInput: StepIdInput, opts: WaitForEventOptions) =>
      ((await register(waitForEventRequest(idInput, opts))) ?? null) as JetstepEvent<TData> | null,
    invoke: async <TResult>(idInput: StepIdInput, opts: InvokeOptions) =>
      (await register(invokeRequest(idInput, opts, deps.appId))) as TResult,
    sendEvent: async (idInput, events) => {
      const { id, displayName } = readId(idInput);
      const list = Array.isArray(events) ? events : [events];
      return (await register({
        id,
        displayName,
        op: StepOpCode.StepPlanned,
        opName: "sendEvent",
        opts: { type: "step.sendEvent" },
        run: () => deps.sendEvents(list),
      })) as { ids: string[] };
    },
  };
}

type WaitForEventOptions = Parameters<StepTools["waitForEvent"]>[1];
type InvokeOptions = Parameters<StepTools["invoke"]>[1];

function runRequest<T>(
  idInput: StepIdInput,
  fn: () => T | Promise<T>,
  opts: StepRunOptions<Awaited<T>> | undefined,
): StepRequest {
  const { id, displayName } = readId(idInput);
  if (typeof fn !== "function")
    throw new InvalidConfigError("fn", `step.run(${JSON.stringify(id)}): fn must be a function`);
  const compensate = opts?.compensate;
  if (compensate !== undefined && typeof compensate !== "function") {
    throw new InvalidConfigError(
      "compensate",
      `step.run(${JSON.stringify(id)}): compensate must be a function`,
    );
  }
  return {
    id,
    displayName,
    op: StepOpCode.StepPlanned,
    opName: id,
    opts: compensate ? { compensable: true } : {},
    run: fn,
    ...(compensate ? { compensate: compensate as (result: unknown) => unknown } : {}),
  };
}

function sleepUntilRequest(idInput: StepIdInput, until: Date | string): StepRequest {
  const { id, displayName } = readId(idInput);
  const date = until instanceof Date ? until : new Date(until);
  if (Number.isNaN(date.getTime()))
    throw new InvalidConfigError(
      "until",
      `step.sleepUntil(${JSON.stringify(id)}): invalid date ${String(until)}`,
    );
  return { id, displayName, op: StepOpCode.Sleep, opName: date.toISOString(), opts: {} };
}

/** `match` becomes the equivalent `if` expression, as the official SDK sends it. */
function waitForEventRequest(idInput: StepIdInput, opts: WaitForEventOptions): StepRequest {
  const { id, displayName } = readId(idInput);
  if (typeof opts?.event !== "string" || opts.event === "") {
    throw new InvalidConfigError(
      "event",
      `step.waitForEvent(${JSON.stringify(id)}): event must be a non-empty string`,
    );
  }
  const wireOpts: Record<string, unknown> = { timeout: toTimeString(opts.timeout) };
  if (opts.match) wireOpts.if = `event.${opts.match} == async.${opts.match}`;
  else if (opts.if) wireOpts.if = opts.if;
  return { id, displayName, op: StepOpCode.WaitForEvent, opName: opts.event, opts: wireOpts };
}

function invokeRequest(idInput: StepIdInput, opts: InvokeOptions, appId: string): StepRequest {
  const { id, displayName } = readId(idInput);
  const functionId = invokeTargetId(opts?.function, appId);
  if (functionId === undefined) {
    throw new InvalidConfigError(
      "function",
      `step.invoke(${JSON.stringify(id)}): function must be a created function or referenceFunction({ functionId })`,
    );
  }
  const payload: Record<string, unknown> = { data: opts.data ?? {} };
  if (opts.v !== undefined) payload.v = opts.v;
  const wireOpts: Record<string, unknown> = { payload, function_id: functionId };
  if (opts.timeout !== undefined) wireOpts.timeout = toTimeString(opts.timeout);
  return { id, displayName, op: StepOpCode.InvokeFunction, opts: wireOpts };
}

function readId(input: StepIdInput): { id: string; displayName: string } {
  const id = typeof input === "string" ? input : input?.id;
  if (typeof id !== "string" || id === "")
    throw new InvalidConfigError("id", "step id must be a non-empty string");
  const name = typeof input === "string" ? undefined : input.name;
  return { id, displayName: name ?? id };
}

function invokeTargetId(target: InvokeTarget | undefined, appId: string): string | undefined {
  if (typeof target !== "object" || target === null) return undefined;
  if ("wireId" in target && typeof target.wireId === "string") return target.wireId;
  if ("functionId" in target && typeof target.functionId === "string" && target.functionId !== "") {
    return `${target.appId ?? appId}-${target.functionId}`;
  }
  return undefined;
}
