/**
 * The fault suite's load: N `fault/go` events POSTed to the gateway in small batches at a steady
 * pace, each with an explicit id, so a batch retried while the gateway (or NATS) is down cannot
 * store an event twice: EVENTS deduplicates by id. An event counts as acknowledged once a POST
 * carrying it was answered 200.
 */
import { setTimeout as delay } from "node:timers/promises";

export interface LoadOptions {
  gatewayUrl: string;
  eventKey: string;
  runs: number;
  /** Events per POST. */
  batchSize: number;
  /** Pause between the starts of two batches. */
  intervalMs: number;
  /** A batch no POST could deliver for this long is given up (its events are not acknowledged). */
  giveUpMs: number;
}

/** An acknowledged event; `i` is its index, which the run's output repeats. */
export interface AckedEvent {
  id: string;
  i: number;
}

export interface LoadResult {
  acked: AckedEvent[];
  /** Events of batches given up. */
  unacked: number;
  /** POSTs that failed and were sent again (the gateway or NATS was down). */
  retriedPosts: number;
}

export interface Load {
  /** Events acknowledged so far. */
  ackedCount(): number;
  /** Resolves once every batch was acknowledged or given up. */
  readonly done: Promise<LoadResult>;
  /** Stops sending: batches not yet acknowledged are given up at their next try. */
  cancel(): void;
}

/** Starts sending at once; ids are `<idPrefix>-<i>`. */
export function startLoad(opts: LoadOptions, idPrefix: string): Load {
  const acked: AckedEvent[] = [];
  let unacked = 0;
  let retriedPosts = 0;
  let cancelled = false;

  const post = async (batch: AckedEvent[]): Promise<void> => {
    const body = JSON.stringify(batch.map((e) => ({ id: e.id, name: "fault/go", data: { i: e.i } })));
    const giveUpAt = Date.now() + opts.giveUpMs;
    for (let attempt = 0; ; attempt++) {
      // Anything cut short (refused, reset, timed out, a body lost mid-read) is status 0: the
      // gateway or NATS is down, and the same ids go again.
      const answer: { status: number; ids: string[] } = await fetch(`${opts.gatewayUrl}/e/${opts.eventKey}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(10_000),
      })
        .then(async (res) => {
          if (res.status === 200) return { status: 200, ids: ((await res.json()) as { ids: string[] }).ids };
          await res.body?.cancel();
          return { status: res.status, ids: [] };
        })
        .catch(() => ({ status: 0, ids: [] }));
      const { status, ids } = answer;
      if (status === 200) {
        const sent = batch.map((e) => e.id).join();
        if (ids.join() !== sent) throw new Error(`the gateway answered ids ${ids.join()} for ${sent}`);
        acked.push(...batch);
        return;
      }
      // A 4xx other than a timeout or back-pressure is a harness bug, not a fault effect.
      if (status >= 400 && status < 500 && status !== 408 && status !== 429)
        throw new Error(`POST /e answered ${status}`);
      if (cancelled || Date.now() >= giveUpAt) {
        unacked += batch.length;
        return;
      }
      retriedPosts++;
      // Backoff between retries of a refused POST (the POST itself is the condition): not a wait.
      await delay(Math.min(1_000, 100 * 2 ** attempt));
    }
  };

  const send = async (): Promise<LoadResult> => {
    const posts: Promise<void>[] = [];
    // Caught at once (a rejection left for the final Promise.all would be unhandled meanwhile).
    const errors: unknown[] = [];
    for (let start = 0; start < opts.runs && !cancelled; start += opts.batchSize) {
      const batch = Array.from({ length: Math.min(opts.batchSize, opts.runs - start) }, (_, k) => ({
        id: `${idPrefix}-${start + k}`,
        i: start + k,
      }));
      posts.push(post(batch).catch((e: unknown) => void errors.push(e)));
      // Pacing, not waiting for state: the load must overlap the fault.
      await delay(opts.intervalMs);
    }
    await Promise.all(posts);
    if (errors.length > 0) throw errors[0];
    return { acked: acked.sort((a, b) => a.i - b.i), unacked, retriedPosts };
  };

  const done = send();
  // Observed here too: a caller that gives up before awaiting it must not leave a rejection unhandled.
  done.catch(() => undefined);
  return {
    ackedCount: () => acked.length,
    done,
    cancel: () => {
      cancelled = true;
    },
  };
}
