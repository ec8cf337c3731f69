/**
 * A registered function's options normalised once, when its registration is loaded: durations
 * in ms and CEL expressions compiled, so matching an event parses and compiles nothing. Built from
 * a function that passed `FunctionDefSchema` (registrations are checked before they are stored).
 */
import { parseDuration } from "./duration.ts";
import {
  type CompiledExpression,
  type CompiledValueExpression,
  compileExpression,
  compileValueExpression,
} from "./expr.ts";
import { type ConcurrencySpec, concurrencySpecs } from "./flow-control.ts";
import { callUrlOf, type FunctionDef, retriesOf } from "./schemas/function-config.ts";
import { type TimeoutsSpec, timeoutsSpec } from "./schemas/run-spec.ts";

/** A limit per period, optionally per key (`rateLimit`, `throttle`). */
export interface KeyedLimitSpec {
  limit: number;
  periodMs: number;
  /** The period as registered (for messages). */
  period: string | number;
  burst?: number;
  key?: CompiledValueExpression;
}

export interface FunctionSpec {
  /** The URL the executor calls, and the attempts each step gets. */
  url: string;
  maxAttempts: number;
  concurrency: ConcurrencySpec[];
  idempotency?: CompiledValueExpression;
  rateLimit?: KeyedLimitSpec;
  throttle?: KeyedLimitSpec;
  singleton?: { mode: "skip" | "cancel"; key?: CompiledValueExpression };
  debounce?: { periodMs: number; timeoutMs?: number; key?: CompiledValueExpression };
  batch?: { maxSize: number; timeoutMs: number; key?: CompiledValueExpression; if?: CompiledExpression };
  /** `priority.run`: seconds ahead (or behind) of work queued earlier. */
  priority?: CompiledValueExpression;
  cancelOn: { event: string; if?: string; timeoutMs?: number }[];
  /** `timeouts` (the run's start and finish deadlines), in ms. */
  timeouts?: TimeoutsSpec;
  compensateOnCancel: boolean;
}

const compiledValue = (source: string | undefined) => (source ? compileValueExpression(source) : undefined);

export function functionSpec(fn: FunctionDef): FunctionSpec {
  const keyed = (
    o: { limit: number; period: string | number; burst?: number; key?: string } | undefined,
  ): KeyedLimitSpec | undefined =>
    o && {
      limit: o.limit,
      periodMs: parseDuration(o.period),
      period: o.period,
      ...(o.burst !== undefined ? { burst: o.burst } : {}),
      ...(o.key ? { key: compileValueExpression(o.key) } : {}),
    };
  const rateLimit = keyed(fn.rateLimit);
  const throttle = keyed(fn.throttle);
  const idempotency = compiledValue(fn.idempotency);
  const priority = compiledValue(fn.priority?.run);
  const timeouts = timeoutsSpec(fn.timeouts);
  return {
    url: callUrlOf(fn),
    maxAttempts: retriesOf(fn) + 1,
    concurrency: concurrencySpecs(fn.concurrency),
    ...(idempotency ? { idempotency } : {}),
    ...(rateLimit ? { rateLimit } : {}),
    ...(throttle ? { throttle } : {}),
    ...(fn.singleton ? { singleton: { mode: fn.singleton.mode, ...keyOf(fn.singleton.key) } } : {}),
    ...(fn.debounce ? { debounce: debounceSpec(fn.debounce) } : {}),
    ...(fn.batchEvents ? { batch: batchSpec(fn.batchEvents) } : {}),
    ...(priority ? { priority } : {}),
    cancelOn: (fn.cancel ?? []).map((c) => ({
      event: c.event,
      ...(c.if ? { if: c.if } : {}),
      ...(c.timeout !== undefined ? { timeoutMs: parseDuration(c.timeout) } : {}),
    })),
    ...(timeouts ? { timeouts } : {}),
    compensateOnCancel: fn.compensateOnCancel === true,
  };
}

function keyOf(source: string | undefined): { key?: CompiledValueExpression } {
  return source ? { key: compileValueExpression(source) } : {};
}

function debounceSpec(d: NonNullable<FunctionDef["debounce"]>): NonNullable<FunctionSpec["debounce"]> {
  return {
    periodMs: parseDuration(d.period),
    ...(d.timeout !== undefined ? { timeoutMs: parseDuration(d.timeout) } : {}),
    ...keyOf(d.key),
  };
}

function batchSpec(b: NonNullable<FunctionDef["batchEvents"]>): NonNullable<FunctionSpec["batch"]> {
  return {
    maxSize: b.maxSize,
    timeoutMs: parseDuration(b.timeout),
    ...keyOf(b.key),
    ...(b.if ? { if: compileExpression(b.if) } : {}),
  };
}
