/**
 * Semantic checks of a registration beyond its schema: expressions compile, durations and cron
 * strings parse, ids are unique. Returns the first problem as `<field path>: <why>`, so nothing
 * invalid ever reaches a run.
 */
import {
  compileExpression,
  type FunctionDef,
  parseCron,
  parseDuration,
  type RegisterRequest,
} from "@jetstep/core";

type Check = () => void;

function check(path: string, f: Check): string | null {
  try {
    f();
    return null;
  } catch (e) {
    return `${path}: ${(e as Error).message}`;
  }
}

function functionProblems(fn: FunctionDef, at: string): string | null {
  for (const [j, t] of fn.triggers.entries()) {
    const where = `${at}.triggers.${j}`;
    const problem =
      "cron" in t
        ? check(`${where}.cron`, () => parseCron(t.cron))
        : t.expression
          ? check(`${where}.expression`, () => compileExpression(t.expression as string))
          : null;
    if (problem) return problem;
  }
  for (const [j, c] of (fn.cancel ?? []).entries()) {
    const where = `${at}.cancel.${j}`;
    const problem =
      (c.if ? check(`${where}.if`, () => compileExpression(c.if as string)) : null) ??
      (c.timeout !== undefined
        ? check(`${where}.timeout`, () => parseDuration(c.timeout as string | number))
        : null);
    if (problem) return problem;
  }
  for (const field of ["start", "finish"] as const) {
    const value = fn.timeouts?.[field];
    if (value === undefined) continue;
    const problem = check(`${at}.timeouts.${field}`, () => parseDuration(value));
    if (problem) return problem;
  }
  return null;
}

export function registrationProblem(reg: RegisterRequest): string | null {
  const seen = new Set<string>();
  for (const [i, fn] of reg.functions.entries()) {
    if (seen.has(fn.id)) return `functions.${i}.id: duplicate function id "${fn.id}"`;
    seen.add(fn.id);
    const problem = functionProblems(fn, `functions.${i}`);
    if (problem) return problem;
  }
  return null;
}
