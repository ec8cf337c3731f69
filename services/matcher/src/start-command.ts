/**
 * A run's start command, as the matcher builds it from the function it registered and the
 * event(s) that started it, and the partition it goes to: runs sharing a concurrency key share a
 * partition, whose owner enforces the limit.
 */
import {
  concurrencyKeys,
  partitionOf,
  runDeadlines,
  type StartRunCommand,
  type StoredEvent,
  type ThrottleSpec,
} from "@jetstep/core";
import type { RegisteredFunction } from "@jetstep/jetstream";
import type { MatcherLog } from "./matcher-log.ts";

/** Priorities are clamped to ±600 s. */
const MAX_PRIORITY_S = 600;

export interface StartOptions {
  /** The throttle the run's first call is held to. */
  throttle?: ThrottleSpec;
  /** The trace context the triggering event arrived with. */
  traceparent?: string;
}

export function startCommand(
  f: RegisteredFunction,
  runId: string,
  events: StoredEvent[],
  eventSeq: number,
  partitions: number,
  log: MatcherLog,
  opts: StartOptions = {},
): { partition: number; cmd: StartRunCommand } {
  const event = events[0] as StoredEvent;
  const { spec } = f;
  const specs = spec.concurrency;
  const concurrency = concurrencyKeys(f.fn.id, specs, event, (key, error) =>
    log.once(
      `concurrency|${f.fn.id}|${key}`,
      { fnId: f.fn.id, key, error },
      "concurrency key failed on an event; the run uses the default bucket",
    ),
  );
  // A function-wide limit covers all of the function's runs, so it decides when present.
  const wide = specs.findIndex((x) => !x.key);
  const partition = partitionOf(concurrency[wide === -1 ? 0 : wide]?.key ?? runId, partitions);
  const cmd: StartRunCommand = {
    type: "start",
    runId,
    fnId: f.fn.id,
    appId: f.app.appId,
    url: spec.url,
    maxAttempts: spec.maxAttempts,
    event,
    events,
    eventSeq,
    ...(spec.compensateOnCancel ? { compensateOnCancel: true } : {}),
    ...(concurrency.length > 0 ? { concurrency } : {}),
    ...(opts.throttle ? { throttle: opts.throttle } : {}),
    ...priorityOf(f, event, log),
    ...runDeadlines(spec, event.ts),
    ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
  };
  return { partition, cmd };
}

/** `priority.run` (CEL, seconds), clamped to ±600; a failing expression means 0 (logged once). */
function priorityOf(f: RegisteredFunction, event: StoredEvent, log: MatcherLog): { priority?: number } {
  const expr = f.spec.priority;
  if (!expr) return {};
  const r = expr.evaluate({ event });
  const n = typeof r.value === "number" ? r.value : Number.NaN;
  if (r.error !== undefined || !Number.isFinite(n)) {
    log.once(
      `priority|${f.fn.id}`,
      { fnId: f.fn.id, expression: expr.source, error: r.error ?? "not a number" },
      "priority expression failed; using 0",
    );
    return {};
  }
  const clamped = Math.max(-MAX_PRIORITY_S, Math.min(MAX_PRIORITY_S, n));
  return clamped === 0 ? {} : { priority: clamped };
}
