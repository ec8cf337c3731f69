import { InvalidDurationError } from "./errors.ts";

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

/**
 * Parses a duration: a non-negative number of milliseconds, or a string of number+unit parts
 * (`ms s m h d w`) such as `"30s"`, `"2h45m"`, `"1.5h"`. Throws InvalidDurationError otherwise.
 */
export function parseDuration(input: string | number): number {
  // Inputs come from registrations and API bodies, typed only by what was sent.
  if (typeof input !== "number" && typeof input !== "string") throw new InvalidDurationError(input);
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new InvalidDurationError(input);
    return Math.round(input);
  }
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (text.length === 0) throw new InvalidDurationError(input);
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const m = PART.exec(text);
    if (!m || m.index !== start) throw new InvalidDurationError(input);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(total);
}
