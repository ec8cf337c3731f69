/**
 * Iterates `source`, failing with IdleTimeoutError when no item arrives for `idleMs`. For reads
 * through ordered consumers (loading a partition's timers, listing KV keys) that can stall for
 * good when a stream changes leader mid-read: a read that keeps delivering is never cut short,
 * a stalled one fails and is retried by its caller. `stop` ends the source on timeout.
 */
export async function* idleTimeout<T>(
  source: AsyncIterable<T>,
  idleMs: number,
  what: string,
  stop: () => unknown,
): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let ended = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<"idle">((resolve) => {
        timer = setTimeout(() => resolve("idle"), idleMs);
      });
      const next = await Promise.race([it.next(), idle]).finally(() => clearTimeout(timer));
      if (next === "idle") {
        ended = true; // a next() is still pending: stop the source instead of returning it
        // Not awaited: stopping a stalled source may itself never finish.
        void Promise.resolve(stop()).catch(() => undefined);
        throw new IdleTimeoutError(what, idleMs);
      }
      if (next.done) {
        ended = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // The caller stopped early (break): end the source too, as a plain for-await would.
    if (!ended) await it.return?.();
  }
}

export class IdleTimeoutError extends Error {
  override name = "IdleTimeoutError";
  constructor(what: string, idleMs: number) {
    super(`${what}: nothing arrived for ${idleMs} ms`);
  }
}

/**
 * `promise`, or IdleTimeoutError after `ms`: for one-shot steps that can hang in a cluster outage
 * (creating an ordered consumer, asking its info) where the client sets no deadline of its own.
 * A value that arrives after the deadline is handed to `dispose` (say, to close a consumer that
 * nobody will read).
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  dispose?: (late: T) => unknown,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expiredFlag = false;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expiredFlag = true;
      reject(new IdleTimeoutError(what, ms));
    }, ms);
  });
  if (dispose)
    void promise.then(
      (v) => (expiredFlag ? Promise.resolve(dispose(v)).catch(() => undefined) : undefined),
      () => undefined,
    );
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
