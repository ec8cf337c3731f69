/**
 * What one executor call produced, and how the handler's and steps' outcomes become it. Pure: the
 * call's attempt counters and the thrown values go in, a result comes out; `answer.ts` turns it
 * into HTTP.
 */
import { STALE_DISPATCH_ERROR } from "@jetstep/core/protocol";
import type { CallBody } from "./call-schema.ts";
import type { LazyOps } from "./defer.ts";
import { ErrorCode, JetstepError } from "./errors.ts";
import { serializeError, toError } from "./serialize-error.ts";
import { hashStepId } from "./step-ids.ts";
import { isNonRetriable, retryAfterOf } from "./user-errors.ts";
import { type OutgoingOp, type SerializedError, StepOpCode } from "./wire.ts";

/** `false`: fail now; `true`: retry with backoff; a string: retry after this `Retry-After` value. */
export type Retriability = boolean | string;

/** What one call produced; `answer.ts` turns it into HTTP. */
export type ExecutionResult =
  | { type: "function-resolved"; data: unknown }
  | { type: "function-rejected"; error: SerializedError; retriable: Retriability }
  | { type: "step-ran"; op: OutgoingOp; retriable?: Retriability; lazy?: OutgoingOp[] }
  | { type: "steps-found"; ops: OutgoingOp[]; retriable?: Retriability }
  | {
      type: "step-not-found";
      stepId: string;
      foundSteps: { id: string; name?: string; displayName: string }[];
    };

/** How the handler settled: its value or what it threw. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The call's attempt counters, which decide whether a failure may be retried. */
export type Attempts = Pick<CallBody["ctx"], "attempt" | "max_attempts">;

/** `id` of the "complete" pseudo step, whose ops carry the run's end when defers ride along. */
const RUN_COMPLETE_ID = hashStepId("complete");

/**
 * Adds the buffered defers to the answer: with the step ran or the steps found, or before the
 * end of the run (the function's value or error as the ops of its "complete" pseudo step, as
 * the official SDK sends them). An answer to a stale call is void: its defers come again with
 * the next call.
 */
export function shipDefers(result: ExecutionResult, defers: LazyOps): ExecutionResult {
  if (result.type === "step-not-found") return result;
  if (result.type === "function-rejected" && result.error.name === STALE_DISPATCH_ERROR) return result;
  const lazy = defers.drain();
  if (lazy.length === 0) return result;
  switch (result.type) {
    case "function-resolved":
      return {
        type: "steps-found",
        ops: [...lazy, { id: RUN_COMPLETE_ID, op: StepOpCode.RunComplete, data: result.data }],
      };
    case "function-rejected": {
      const op = result.retriable === false ? StepOpCode.StepFailed : StepOpCode.StepError;
      return {
        type: "steps-found",
        ops: [...lazy, { id: RUN_COMPLETE_ID, op, error: result.error }],
        retriable: result.retriable,
      };
    }
    case "step-ran":
      return { ...result, lazy };
    case "steps-found":
      return { ...result, ops: [...result.ops, ...lazy] };
  }
}

/** The answer of a call Jetstep replaced (a checkpoint came back stale): it is ignored. */
export function staleCallResult(): ExecutionResult {
  return {
    type: "function-rejected",
    error: serializeError(
      Object.assign(new Error("Jetstep replaced this call; its answer is ignored"), {
        name: STALE_DISPATCH_ERROR,
      }),
    ),
    retriable: false,
  };
}

/** A step's value as its result; a value that is not JSON fails the step. */
export function stepRanResult(base: OutgoingOp, value: unknown, attempts: Attempts): ExecutionResult {
  const json = toJsonValue(value);
  if (!json.ok) return stepFailure(base, json.error, attempts);
  return { type: "step-ran", op: { ...base, data: json.value } };
}

/** A step that threw: `StepFailed` when it will not be retried, else `StepError`. */
export function stepFailure(base: OutgoingOp, thrown: unknown, attempts: Attempts): ExecutionResult {
  const retriable = retriability(thrown, attempts);
  const error = serializeError(thrown);
  if (retriable === false) {
    const data = { __serialized: true, name: error.name, message: error.message, stack: "" };
    return { type: "step-ran", op: { ...base, op: StepOpCode.StepFailed, error, data }, retriable };
  }
  return { type: "step-ran", op: { ...base, op: StepOpCode.StepError, error, data: null }, retriable };
}

/** The function's end: its value as JSON, or its error (a value that is not JSON is one). */
export function settledResult(outcome: Outcome | undefined, attempts: Attempts): ExecutionResult {
  if (!outcome) return rejected(new Error("handler did not settle"), attempts);
  if (!outcome.ok) return rejected(outcome.error, attempts);
  const json = toJsonValue(outcome.value);
  return json.ok ? { type: "function-resolved", data: json.value } : rejected(json.error, attempts);
}

function rejected(thrown: unknown, attempts: Attempts): ExecutionResult {
  const error = toError(thrown);
  return {
    type: "function-rejected",
    error: serializeError(error),
    retriable: retriability(error, attempts),
  };
}

function retriability(error: unknown, { attempt, max_attempts }: Attempts): Retriability {
  if (max_attempts != null && attempt >= max_attempts - 1) return false;
  if (isNonRetriable(error)) return false;
  return retryAfterOf(error) ?? true;
}

/** The value as it will read back from JSON (`undefined` → `null`), or a non-retriable error. */
function toJsonValue(value: unknown): { ok: true; value: unknown } | { ok: false; error: JetstepError } {
  try {
    const text = JSON.stringify(value);
    return { ok: true, value: text === undefined ? null : JSON.parse(text) };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return {
      ok: false,
      error: new JetstepError(ErrorCode.NotSerializable, `Result is not JSON-serializable: ${reason}`, {
        cause,
        retriable: false,
      }),
    };
  }
}
