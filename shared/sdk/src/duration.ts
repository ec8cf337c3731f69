import { InvalidDurationError } from "./errors.ts";

/** A duration: milliseconds, or a string of number+unit parts such as `"30s"`, `"2h45m"`, `"1.5h"`, `"1w"`. */
export type DurationInput = number | string;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

/** Parses a {@link DurationInput} to milliseconds. Throws InvalidDurationError on anything else. */
export function parseDuration(input: DurationInput): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new InvalidDurationError(String(input));
    return Math.round(input);
  }
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (text === "") throw new InvalidDurationError(input);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const m = PART.exec(text);
    if (m === null || m.index !== start) throw new InvalidDurationError(input);
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  }
  return Math.round(total);
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
