/**
 * Semantic checks of a registration beyond its schema: expressions compile, durations and cron
 * strings parse, ids are unique. Returns the first problem as `<field path>: <why>`, so nothing
 * invalid ever reaches a run.
 */
import {
  compileExpression,
  compileValueExpression,
  concurrencyProblem,
  type FunctionDef,
  parseCron,
  parseDuration,
  type RegisterRequest,
} from "@jetstep/core";

/** Largest `batchEvents.maxSize` (Inngest's limit). */
const MAX_BATCH = 100;
/** Options that cannot go with `batchEvents` (a batch run has no single triggering event). */
const BATCH_CONFLICTS = ["cancel", "idempotency", "rateLimit", "debounce", "priority", "singleton"] as const;

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
  const config = fn as FunctionDef & {
    idempotency?: unknown;
    batchEvents?: Record<string, unknown>;
    concurrency?: unknown;
  };
  if (config.concurrency !== undefined) {
    const problem = concurrencyProblem(config.concurrency);
    if (problem) return `${at}.concurrency${/^[\w.]+: /.test(problem) ? "." : ": "}${problem}`;
  }
  if (config.idempotency !== undefined) {
    const problem =
      typeof config.idempotency === "string"
        ? check(`${at}.idempotency`, () => compileValueExpression(config.idempotency as string))
        : `${at}.idempotency: must be a CEL expression string`;
    if (problem) return problem;
  }
  const batch = config.batchEvents;
  if (batch !== undefined) {
    const where = `${at}.batchEvents`;
    if (typeof batch !== "object" || batch === null) return `${where}: must be an object`;
    if (
      !Number.isInteger(batch.maxSize) ||
      (batch.maxSize as number) < 1 ||
      (batch.maxSize as number) > MAX_BATCH
    ) {
      return `${where}.maxSize: must be an integer from 1 to ${MAX_BATCH}`;
    }
    const problem =
      check(`${where}.timeout`, () => parseDuration(batch.timeout as string | number)) ??
      (batch.key !== undefined
        ? check(`${where}.key`, () => compileValueExpression(batch.key as string))
        : null) ??
      (batch.if !== undefined ? check(`${where}.if`, () => compileExpression(batch.if as string)) : null);
    if (problem) return problem;
    for (const other of BATCH_CONFLICTS) {
      if ((fn as Record<string, unknown>)[other] !== undefined) {
        return `${at}: batchEvents cannot be combined with ${other === "cancel" ? "cancelOn (cancel)" : other}`;
      }
    }
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
