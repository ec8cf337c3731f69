/**
 * CEL expressions (`@bufbuild/cel`): trigger `if`, and later waitForEvent/cancelOn matching.
 * Variables: `event` (the triggering event) and `async` (a candidate event). An expression that
 * fails to evaluate (e.g. a missing field) counts as false, never as an exception.
 */
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import { InvalidExpressionError } from "./errors.ts";

const env = celEnv();

export interface CompiledExpression {
  source: string;
  /** True only when the expression evaluates to boolean true; errors are returned as `error`. */
  test(vars: Record<string, unknown>): { value: boolean; error?: string };
}

/** Parses and plans `source`; evaluation returns the raw value or a CelError, or throws. */
function planExpression(source: string): (vars: Record<string, unknown>) => unknown {
  try {
    const planned = plan(env, parse(source));
    return (vars) => planned(vars as Parameters<typeof planned>[0]);
  } catch (e) {
    throw new InvalidExpressionError(source, e instanceof Error ? e.message : String(e));
  }
}

/** Runs a planned program; evaluation failures (CelError or a throw) come back as `error`. */
function evaluateSafely(program: (vars: Record<string, unknown>) => unknown, vars: Record<string, unknown>) {
  try {
    const out = program(vars);
    return isCelError(out) ? { error: out.message } : { out };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

export function compileExpression(source: string): CompiledExpression {
  const program = planExpression(source);
  return {
    source,
    test(vars) {
      const r = evaluateSafely(program, vars);
      return "error" in r ? { value: false, error: r.error as string } : { value: r.out === true };
    },
  };
}

/** A CEL expression evaluated for its value (idempotency, batch and flow-control keys). */
export interface CompiledValueExpression {
  source: string;
  /** The value as JSON-compatible data, or `error` when evaluation failed. */
  evaluate(vars: Record<string, unknown>): { value?: unknown; error?: string };
}

export function compileValueExpression(source: string): CompiledValueExpression {
  const program = planExpression(source);
  return {
    source,
    evaluate(vars) {
      const r = evaluateSafely(program, vars);
      return "error" in r ? { error: r.error as string } : { value: toPlain(r.out) };
    },
  };
}

/** CEL values (bigint, CelList, CelMap, CelUint…) as plain JSON-compatible values for keys. */
function toPlain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(toPlain);
  const maybe = v as { [Symbol.iterator]?: unknown; toString(): string };
  return typeof maybe[Symbol.iterator] === "function"
    ? [...(v as Iterable<unknown>)].map(toPlain)
    : String(maybe);
}
