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

/**
 * Bounds on what an expression may cost, checked when it is compiled (at registration, or when a
 * request brings it), so that evaluating it on any event stays linear in the event's size: the
 * event loop of the gateway and matcher is shared by everyone.
 * - No comprehension (`all`, `exists`, `exists_one`, `map`, `filter`) inside another: nested ones
 *   multiply (three nested over 100 elements blocked the event loop for seconds).
 * - At most MAX_COMPREHENSIONS of them in all.
 * - A `matches` pattern without a quantified group that itself holds a quantifier (`(a+)+`): such
 *   patterns backtrack exponentially in JavaScript's regular expressions. The pattern must be a
 *   literal string.
 */
export const MAX_COMPREHENSIONS = 8;
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]/;

interface AstNode {
  exprKind?: { case?: string; value?: unknown };
}

/** Why `expr` could cost too much, or null. */
function costProblem(expr: AstNode): string | null {
  let comprehensions = 0;
  const walk = (node: unknown, inComprehension: boolean): string | null => {
    if (!node || typeof node !== "object") return null;
    if (Array.isArray(node)) {
      for (const n of node) {
        const p = walk(n, inComprehension);
        if (p) return p;
      }
      return null;
    }
    const kind = (node as AstNode).exprKind;
    if (kind?.case === "comprehensionExpr") {
      if (inComprehension)
        return "a comprehension (all, exists, exists_one, map, filter) inside another is not allowed: nested ones multiply the cost";
      if (++comprehensions > MAX_COMPREHENSIONS)
        return `at most ${MAX_COMPREHENSIONS} comprehensions (all, exists, exists_one, map, filter) per expression`;
      return walk(kind.value, true);
    }
    if (kind?.case === "callExpr") {
      const call = kind.value as { function?: string; args?: AstNode[]; target?: AstNode };
      if (call.function === "matches") {
        const pattern = call.args?.[call.target ? 0 : 1]?.exprKind;
        const constant =
          pattern?.case === "constExpr"
            ? (pattern.value as { constantKind?: { case?: string; value?: unknown } }).constantKind
            : undefined;
        if (constant?.case !== "stringValue") return "matches: the pattern must be a literal string";
        if (NESTED_QUANTIFIER.test(String(constant.value)))
          return "matches: a quantified group holding a quantifier (like (a+)+) can take exponential time";
      }
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === "$typeName") continue;
      const p = walk(v, inComprehension);
      if (p) return p;
    }
    return null;
  };
  return walk(expr, false);
}

/** Parses and plans `source`; evaluation returns the raw value or a CelError, or throws. */
function planExpression(source: string): (vars: Record<string, unknown>) => unknown {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    throw new InvalidExpressionError(source, e instanceof Error ? e.message : String(e));
  }
  const tooCostly = costProblem(parsed.expr as AstNode);
  if (tooCostly) throw new InvalidExpressionError(source, tooCostly);
  try {
    const planned = plan(env, parsed);
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
