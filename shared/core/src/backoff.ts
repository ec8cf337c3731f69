/**
 * Retry backoff. Production schedule follows Inngest's shape: 15 s, 30 s, 1 m, 2 m, 5 m, 10 m,
 * 20 m, 40 m, 1 h 20 m, capped at 2 h, plus up to 10% jitter. `fixedIntervalMs` (dev
 * `--retry-interval`) replaces the schedule with a fixed delay. `Retry-After` wins, clamped to
 * 1 s … 24 h.
 */
const SCHEDULE_MS = [15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000, 2_400_000, 4_800_000];
const CAP_MS = 7_200_000;
const MIN_RETRY_AFTER_MS = 1_000;
const MAX_RETRY_AFTER_MS = 86_400_000;

export interface BackoffOptions {
  fixedIntervalMs?: number;
  /** A value in [0, 1) for jitter; inject for determinism. */
  random: () => number;
}

/** Delay before attempt `attempt + 1`, where `attempt` is the 0-based attempt that just failed. */
export function backoffDelay(attempt: number, opts: BackoffOptions, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) {
    return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, retryAfterMs));
  }
  if (opts.fixedIntervalMs !== undefined) return opts.fixedIntervalMs;
  const base = SCHEDULE_MS[Math.min(attempt, SCHEDULE_MS.length - 1)] ?? CAP_MS;
  return Math.min(CAP_MS, Math.round(base * (1 + 0.1 * opts.random())));
}

/** Parses a Retry-After header (seconds or an HTTP date) into ms from `nowMs`. */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : at - nowMs;
}
