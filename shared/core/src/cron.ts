/**
 * Cron schedules (croner): 5 fields (minute precision) or 6 (leading seconds), with an optional
 * `TZ=Area/City ` prefix (Inngest's syntax); UTC otherwise.
 */
import { Cron } from "croner";

export class InvalidCronError extends Error {
  override name = "InvalidCronError";
}

export interface CronSchedule {
  source: string;
  /** The next slot strictly after `afterMs`, or undefined when the schedule has none. */
  next(afterMs: number): number | undefined;
}

export function parseCron(source: string): CronSchedule {
  const trimmed = source.trim();
  const tz = /^TZ=(\S+)\s+(.*)$/.exec(trimmed);
  const timezone = tz ? (tz[1] as string) : "UTC";
  const pattern = tz ? (tz[2] as string) : trimmed;
  const fields = pattern.split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new InvalidCronError(
      `invalid cron ${JSON.stringify(source)}: expected 5 fields (or 6 with seconds), got ${fields}`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(pattern, { timezone, paused: true });
    cron.nextRun(new Date(0));
  } catch (e) {
    throw new InvalidCronError(`invalid cron ${JSON.stringify(source)}: ${(e as Error).message}`);
  }
  return {
    source,
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime();
    },
  };
}
