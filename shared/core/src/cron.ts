/**
 * Cron schedules (croner): 5 fields (minute precision) or 6 (leading seconds), with an optional
 * `TZ=Area/City ` prefix (Inngest's syntax); UTC otherwise.
 */
import { Cron } from "croner";
import { parseDuration } from "./duration.ts";
import { fnv1a32 } from "./hash.ts";

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

/** Longest cron `jitter`: a run starts at most this long after its slot. */
export const MAX_CRON_JITTER_MS = 24 * 60 * 60_000;

/** A cron trigger's `jitter` in ms (a duration of at most a day); throws naming the problem. */
export function jitterMs(jitter: string | number): number {
  const ms = parseDuration(jitter);
  if (ms > MAX_CRON_JITTER_MS) throw new InvalidCronError(`jitter: ${jitter} is longer than a day`);
  return ms;
}

/**
 * How long after `slot` a run of `fnId` starts, for a `jitter` of `maxMs`: spread over the
 * interval, and the same on every scheduler (a hash of function and slot, not a random draw), so
 * two schedulers around a handover fire the slot at the same moment.
 */
export function jitterDelay(fnId: string, slot: number, maxMs: number): number {
  if (maxMs <= 0) return 0;
  return fnv1a32(`${fnId}\u0000${slot}`) % (maxMs + 1);
}
