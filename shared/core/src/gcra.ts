/**
 * GCRA (generic cell rate algorithm) over a stored "theoretical arrival time" (TAT). Pure: the
 * caller stores the returned TAT (compare-and-set) and supplies the clock.
 * - `rateLimit`: `limit` per `period`; an arrival beyond it is dropped.
 * - `throttle`: arrivals are spaced `period / limit` apart (`burst` may start together); none is
 *   dropped: each gets the time it may start.
 */

export interface GcraLimit {
  limit: number;
  periodMs: number;
  burst?: number;
}

/** Rate limit: whether an arrival at `now` is admitted, and the TAT to store if it is. */
export function rateLimitAdmit(
  tat: number | undefined,
  now: number,
  l: GcraLimit,
): { admitted: boolean; tat: number } {
  const interval = l.periodMs / l.limit;
  const tolerance = l.periodMs - interval;
  const base = Math.max(tat ?? now, now);
  if (base - now > tolerance) return { admitted: false, tat: tat ?? now };
  return { admitted: true, tat: base + interval };
}

/** Throttle: when a run arriving at `now` may start, and the TAT to store. */
export function throttleSlot(
  tat: number | undefined,
  now: number,
  l: GcraLimit,
): { startAt: number; tat: number } {
  const interval = l.periodMs / l.limit;
  const tolerance = interval * Math.max(0, (l.burst ?? 1) - 1);
  const base = Math.max(tat ?? now, now);
  return { startAt: Math.max(now, base - tolerance), tat: base + interval };
}
