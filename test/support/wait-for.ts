/** A value `if (x)` accepts: what `waitFor` resolves with. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | "" | null | undefined>;

export interface WaitForOptions {
  /** Hard deadline for the whole wait, including a `cond` call that never settles. */
  timeoutMs: number;
  /** Pause between attempts; default 25 ms. */
  intervalMs?: number;
  /** What was awaited, for the timeout error ("stream RUNS to exist"). */
  message?: string;
}

/** Thrown by `waitFor` when the deadline passes; `cause` is the last error `cond` threw, if any. */
export class WaitForTimeoutError extends Error {
  override readonly name = "WaitForTimeoutError";
  readonly code = "WAIT_FOR_TIMEOUT";
  readonly attempts: number;
  constructor(message: string, attempts: number, cause: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.attempts = attempts;
  }
}

/**
 * Polls `cond` until it returns (or resolves to) a truthy value and resolves with that value.
 * A throw or rejection from `cond` counts as "not yet"; the last one becomes the timeout error's
 * `cause`. Rejects with `WaitForTimeoutError` once `timeoutMs` has passed, even if a `cond` call
 * is still pending. Attempts never overlap.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitForOptions): Promise<Truthy<T>> {
  const { timeoutMs, intervalMs = 25, message } = opts;
  const start = Date.now();
  const deadline = start + timeoutMs;
  let attempts = 0;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    attempts++;
    const remaining = deadline - Date.now();
    const outcome = await settleWithin(cond, Math.max(remaining, 0));
    if (outcome.kind === "value") {
      if (outcome.value) return outcome.value as Truthy<T>;
      lastValue = outcome.value;
    } else if (outcome.kind === "error") {
      lastError = outcome.error;
    }
    const left = deadline - Date.now();
    if (left <= 0 || outcome.kind === "timeout") {
      const what = message ?? "condition";
      const last =
        lastError !== undefined ? `last error: ${describe(lastError)}` : `last value: ${describe(lastValue)}`;
      throw new WaitForTimeoutError(
        `waitFor: ${what} not met within ${timeoutMs} ms (${attempts} attempts; ${last})`,
        attempts,
        lastError,
      );
    }
    await sleep(Math.min(intervalMs, left));
  }
}

type Outcome<T> = { kind: "value"; value: T } | { kind: "error"; error: unknown } | { kind: "timeout" };

async function settleWithin<T>(cond: () => T | Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
  });
  const attempt = (async (): Promise<Outcome<T>> => {
    try {
      return { kind: "value", value: await cond() };
    } catch (error) {
      return { kind: "error", error };
    }
  })();
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(x: unknown): string {
  if (x instanceof Error) return `${x.name}: ${x.message}`;
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
