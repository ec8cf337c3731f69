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
  jitterMs,
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
        ? (check(`${where}.cron`, () => parseCron(t.cron)) ??
          (t.jitter !== undefined
            ? check(`${where}.jitter`, () => jitterMs(t.jitter as string | number))
            : null))
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
  const flowProblem = flowControlProblem(fn as unknown as Record<string, unknown>, at);
  if (flowProblem) return flowProblem;
  for (const field of ["start", "finish"] as const) {
    const value = fn.timeouts?.[field];
    if (value === undefined) continue;
    const problem = check(`${at}.timeouts.${field}`, () => parseDuration(value));
    if (problem) return problem;
  }
  return null;
}

const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;

/** rateLimit, throttle, singleton, debounce, priority: limits are positive, periods and keys parse. */
function flowControlProblem(fn: Record<string, unknown>, at: string): string | null {
  const obj = (name: string) => {
    const v = fn[name];
    return v === undefined
      ? undefined
      : typeof v === "object" && v !== null && !Array.isArray(v)
        ? (v as Record<string, unknown>)
        : null;
  };
  const period = (where: string, v: unknown) =>
    check(where, () => {
      if (parseDuration(v as string | number) <= 0) throw new Error("must be longer than 0");
    });
  const key = (where: string, v: unknown) =>
    v === undefined
      ? null
      : typeof v === "string"
        ? check(where, () => compileValueExpression(v))
        : `${where}: must be a CEL expression string`;
  for (const name of ["rateLimit", "throttle"]) {
    const c = obj(name);
    if (c === undefined) continue;
    if (c === null) return `${at}.${name}: must be an object`;
    if (!positiveInt(c.limit)) return `${at}.${name}.limit: must be an integer of at least 1`;
    if (name === "throttle" && c.burst !== undefined && !positiveInt(c.burst))
      return `${at}.throttle.burst: must be an integer of at least 1`;
    const problem = period(`${at}.${name}.period`, c.period) ?? key(`${at}.${name}.key`, c.key);
    if (problem) return problem;
  }
  const singleton = obj("singleton");
  if (singleton === null) return `${at}.singleton: must be an object`;
  if (singleton) {
    if (singleton.mode !== "skip" && singleton.mode !== "cancel")
      return `${at}.singleton.mode: must be "skip" or "cancel"`;
    const problem = key(`${at}.singleton.key`, singleton.key);
    if (problem) return problem;
  }
  const debounce = obj("debounce");
  if (debounce === null) return `${at}.debounce: must be an object`;
  if (debounce) {
    const problem =
      period(`${at}.debounce.period`, debounce.period) ??
      key(`${at}.debounce.key`, debounce.key) ??
      (debounce.timeout !== undefined ? period(`${at}.debounce.timeout`, debounce.timeout) : null);
    if (problem) return problem;
  }
  const priority = obj("priority");
  if (priority === null) return `${at}.priority: must be an object`;
  if (priority?.run !== undefined) {
    const problem = key(`${at}.priority.run`, priority.run);
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
