import { pino } from "pino";

/** A log method in pino's style: object first, then message. */
export type LogFn = (objOrMsg: unknown, msg?: string, ...args: unknown[]) => void;

/** The logger shape the SDK needs; a pino logger satisfies it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** The logger used when none is given: pino at `info`, named `jetstep`. */
export function defaultLogger(): Logger {
  return pino({ name: "jetstep", level: "info" });
}

/**
 * Wraps a logger so that nothing is logged while `isReplaying()` is true: a handler is re-run from the
 * top on every call, and lines before the first new step would otherwise repeat on each step.
 */
export function replayAwareLogger(base: Logger, isReplaying: () => boolean): Logger {
  const gate =
    (fn: LogFn): LogFn =>
    (...args) => {
      if (!isReplaying()) fn(...args);
    };
  return {
    debug: gate(base.debug.bind(base)),
    info: gate(base.info.bind(base)),
    warn: gate(base.warn.bind(base)),
    error: gate(base.error.bind(base)),
    child: (bindings) => replayAwareLogger(base.child(bindings), isReplaying),
  };
}
