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

export function compileExpression(source: string): CompiledExpression {
  let program: (vars: Record<string, unknown>) => unknown;
  try {
    const planned = plan(env, parse(source));
    program = (vars) => planned(vars as Parameters<typeof planned>[0]);
  } catch (e) {
    throw new InvalidExpressionError(source, e instanceof Error ? e.message : String(e));
  }
  return {
    source,
    test(vars) {
      try {
        const out = program(vars);
        if (isCelError(out)) return { value: false, error: out.message };
        return { value: out === true };
      } catch (e) {
        return { value: false, error: e instanceof Error ? e.message : String(e) };
      }
    },
  };
}
