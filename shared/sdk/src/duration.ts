import { parseDuration as parseCoreDuration } from "@jetstep/core/protocol";
import { InvalidDurationError } from "./errors.ts";

/** A duration: milliseconds, or a string of number+unit parts such as `"30s"`, `"2h45m"`, `"1.5h"`, `"1w"`. */
export type DurationInput = number | string;

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * Parses a {@link DurationInput} to milliseconds (core's parser, the one the server uses).
 * Throws InvalidDurationError on anything else.
 */
export function parseDuration(input: DurationInput): number {
  try {
    return parseCoreDuration(input);
  } catch {
    throw new InvalidDurationError(String(input));
  }
}

const PERIODS = [
  ["w", UNIT_MS.w],
  ["d", UNIT_MS.d],
  ["h", UNIT_MS.h],
  ["m", UNIT_MS.m],
  ["s", UNIT_MS.s],
] as const;

/**
 * Renders milliseconds the way the official SDK does for op names and timeouts: `"1h30m"`, `"3d"`.
 * Sub-second remainders are dropped, but a positive duration under 1 s becomes `"1s"` (durable waits
 * have 1 s resolution); 0 renders `"0s"`.
 */
export function formatDuration(ms: number): string {
  let rest = ms > 0 && ms < 1000 ? 1000 : ms;
  let out = "";
  for (const [suffix, period] of PERIODS) {
    const n = Math.floor(rest / period);
    if (n > 0) {
      out += `${n}${suffix}`;
      rest -= n * period;
    }
  }
  return out === "" ? "0s" : out;
}

/** A timeout or period for the wire: a Date becomes its ISO string, anything else a duration string. */
export function toTimeString(input: DurationInput | Date): string {
  if (input instanceof Date) {
    if (Number.isNaN(input.getTime())) throw new InvalidDurationError(String(input));
    return input.toISOString();
  }
  return formatDuration(parseDuration(input));
}
