/**
 * Calls to apps served by NATS workers (`nats://<appId>?fnId=…`): the call is published to
 * `jetstep.call.<appId>` with a reply subject; the worker answers with progress messages
 * (`Jetstep-Status: 100`) every heartbeat while the call runs, then the answer. One wildcard reply
 * subscription per connection (`<inbox>.*`) serves every call of this executor.
 *
 * The NATS side (the reply subscription, resends, heartbeats) is jetstream's `worker-calls.ts`.
 * Failures are `transport` answers that name the app, so the normal retry path retries the step
 * (on another worker of the app): nobody subscribed ("no worker is serving app X"), no message
 * for `heartbeatMisses` heartbeats ("worker for app X stopped answering"), the overall timeout,
 * and a call too large for the server's max_payload.
 *
 * A worker at its `maxInFlight` answers "busy" (`Jetstep-Status: 429`) without starting the call:
 * the call is sent again after a short backoff (10 ms doubling to 250 ms), to whichever worker of the
 * queue group takes it, until the overall timeout. No attempt is counted for that.
 */
import { type AppAnswer, parseAppResponse, Subjects, WorkerHeaders, WorkerUrls } from "@jetstep/core";
import { callWorkerOverNats, DEFAULT_HEARTBEAT_MISSES, type Nats } from "@jetstep/jetstream";

export interface WorkerCallOptions {
  nats: Nats;
  /** Overall limit for the call, heartbeats or not. */
  timeoutMs: number;
  now: () => number;
  /** Silent heartbeat intervals before the worker counts as gone (default 3). */
  heartbeatMisses?: number;
}

/**
 * Calls the worker app of `url` (`nats://<appId>?<query>`) with `body` and the HTTP call's
 * `headers`, and classifies the answer exactly as an HTTP answer. Never throws.
 */
export async function callWorker(
  url: URL,
  body: string,
  headers: Record<string, string>,
  opts: WorkerCallOptions,
): Promise<AppAnswer> {
  const appId = WorkerUrls.appIdOf(url);
  if (appId === undefined)
    return {
      kind: "transport",
      message: `invalid worker URL ${url.href}: expected nats://<appId>?fnId=…`,
      failure: "refused",
    };
  const h = { ...headers, [WorkerHeaders.query]: url.search.replace(/^\?/, "") };
  const outcome = await callWorkerOverNats(opts.nats, Subjects.workerCall(appId), body, h, {
    appId,
    url: url.href,
    timeoutMs: opts.timeoutMs,
    misses: opts.heartbeatMisses ?? DEFAULT_HEARTBEAT_MISSES,
  });
  if (outcome.kind === "failed")
    return { kind: "transport", message: outcome.message, failure: outcome.failure };
  return parseAppResponse(outcome.status, outcome.header, outcome.body, opts.now());
}
