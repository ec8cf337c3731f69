import pino, { type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Human-readable output (pino-pretty) instead of JSON lines. */
  pretty?: boolean;
  name?: string;
}

/**
 * The pino logger every service uses. JSON lines by default; child loggers carry `runId`,
 * `fnId`, `stepId`, `attempt` (`log.child({ runId })`).
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const base = { level: opts.level ?? "info", ...(opts.name ? { name: opts.name } : {}) };
  if (opts.pretty) {
    return pino({
      ...base,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "HH:MM:ss.l", ignore: "pid,hostname" },
      },
    });
  }
  return pino(base);
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
