/**
 * Core NATS (no JetStream) as services use it: subscriptions (checkpoints, worker registration,
 * ingest, the UI's live feed, throttle turns), requests (checkpoints forwarded to a partition's
 * owner) and plain publishes (notifications nobody stores).
 */
import type { Nats } from "./connection.ts";
import type { BusMessage } from "./delivery.ts";

/** A subscription: `unsubscribe` ends it. */
export interface BusSubscription {
  unsubscribe(): void;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one subscriber of the group. */
  queue?: string;
  /** The subscription failed (a permission refused, say); nothing more is delivered. */
  onError?: (err: Error) => void;
}

/** Calls `onMessage` with every message on `subject` (wildcards allowed) until unsubscribed. */
export function subscribe(
  nats: Nats,
  subject: string,
  onMessage: (m: BusMessage) => void,
  opts: SubscribeOptions = {},
): BusSubscription {
  return nats.nc.subscribe(subject, {
    ...(opts.queue ? { queue: opts.queue } : {}),
    callback: (err, m) => {
      if (err) opts.onError?.(err);
      else onMessage(m);
    },
  });
}

/** Sends a request and resolves with its answer; rejects on no responders or after `timeoutMs`. */
export function request(nats: Nats, subject: string, body: string, timeoutMs: number): Promise<BusMessage> {
  return nats.nc.request(subject, body, { timeout: timeoutMs });
}

/** Publishes on core NATS (not stored; throws when the connection refuses it). */
export function publishCore(nats: Nats, subject: string, body?: string): void {
  nats.nc.publish(subject, body);
}

/** The largest message the server takes (its max_payload), or `fallback` before it said. */
export function maxPayload(nats: Nats, fallback = 1024 * 1024): number {
  return nats.nc.info?.max_payload ?? fallback;
}
