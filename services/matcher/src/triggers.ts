/**
 * Which functions an event triggers. Event triggers match the exact name, or a `prefix/*`
 * wildcard; an `expression` (CEL, variable `event`) must also be true. An expression that
 * fails to evaluate counts as false and is logged once per (function, expression).
 */

import { type CompiledExpression, compileExpression, InternalEvents, type StoredEvent } from "@jetstep/core";
import type { RegisteredFunction } from "@jetstep/jetstream";
import type { MatcherLog } from "./matcher-log.ts";

export interface TriggerMatch {
  fn: RegisteredFunction;
}

export class TriggerIndex {
  private readonly compiled = new Map<string, CompiledExpression | Error>();

  constructor(private readonly log: MatcherLog) {}

  match(event: StoredEvent, functions: RegisteredFunction[]): RegisteredFunction[] {
    // A cron slot's event starts only the function whose schedule fired.
    if (event.name === InternalEvents.scheduledTimer && typeof event.data.function_id === "string") {
      return functions.filter(
        (f) => f.fn.id === event.data.function_id && f.fn.triggers.some((t) => "cron" in t),
      );
    }
    // step.invoke starts exactly the target function, whatever its triggers.
    if (event.name === InternalEvents.functionInvoked) {
      const target = (event.data._inngest as { fn_id?: unknown } | undefined)?.fn_id;
      return functions.filter((f) => f.fn.id === target);
    }
    const out: RegisteredFunction[] = [];
    for (const f of functions) {
      for (const t of f.fn.triggers) {
        if (!("event" in t) || !nameMatches(t.event, event.name)) continue;
        if (t.expression && !this.test(f.fn.id, t.expression, event)) continue;
        out.push(f);
        break;
      }
    }
    return out;
  }

  private test(fnId: string, expression: string, event: StoredEvent): boolean {
    let c = this.compiled.get(expression);
    if (!c) {
      try {
        c = compileExpression(expression);
      } catch (e) {
        c = e as Error;
      }
      this.compiled.set(expression, c);
    }
    const result = c instanceof Error ? { value: false, error: c.message } : c.test({ event });
    if (result.error)
      this.log.once(
        `trigger|${fnId}\u0000${expression}`,
        { fnId, expression, error: result.error },
        "trigger expression failed to evaluate; treated as no match",
      );
    return result.value;
  }
}

export function nameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (pattern.endsWith("/*")) return name.startsWith(pattern.slice(0, -1));
  return false;
}
