/**
 * DEAD_LETTERS (`dlq.<source>`): what Jetstep took but could not process, kept 30 days with the
 * reason. A consumer (the matcher's EVENTS, an executor's INBOX) parks a message here once it has
 * failed in a way retrying cannot fix, so one bad message never holds up the ones behind it;
 * failures talking to NATS or to apps are retried instead, however long they last.
 */
import { JetstepError, Subjects } from "@jetstep/core";
import type { Delivery } from "./delivery.ts";
import type { Publisher } from "./publisher.ts";

/** Deliveries of a message that keeps failing as poison before it is dead-lettered. */
export const POISON_DELIVERIES = 3;

/** What a dead letter says about the message, besides its payload. */
export interface DeadLetterFields {
  reason: string;
  /** An HTTP-like status for refused input (ingest); absent for consumer failures. */
  status?: number;
  /** The subject the message was published on. */
  subject: string;
  at: string;
  /** For a message taken from a stream: which, its sequence there, and how often it was delivered. */
  stream?: string;
  seq?: number;
  deliveries?: number;
}

export interface DeadLetter extends DeadLetterFields {
  /** The letter's own sequence in DEAD_LETTERS. */
  id: number;
  /** The source (`ingest`, `matcher`, `executor`). */
  source: string;
  payload: string;
  payloadTruncated?: boolean;
  payloadBytes?: number;
}

/**
 * The JSON of a dead letter of at most `limit` bytes. A payload that does not fit whole is cut to
 * the longest prefix that does, with `payloadTruncated: true` and `payloadBytes` (its full size),
 * so a message as large as the server takes is still recorded.
 */
export function deadLetterJson(fields: DeadLetterFields, payload: string, limit: number): string {
  const whole = JSON.stringify({ ...fields, payload });
  if (Buffer.byteLength(whole) <= limit) return whole;
  const payloadBytes = Buffer.byteLength(payload);
  const cut = (chars: number) =>
    JSON.stringify({ ...fields, payload: payload.slice(0, chars), payloadTruncated: true, payloadBytes });
  // Escaping makes the JSON's size no simple function of the prefix's length: search for it.
  let lo = 0;
  let hi = Math.min(payload.length, limit);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(cut(mid)) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return cut(lo);
}

/**
 * Whether retrying cannot help with `e`: the message itself is at fault. A stack overflow or an
 * out-of-range value (RangeError), a value of the wrong shape (TypeError, a failed schema, a log
 * that cannot be replayed, a name that is no subject token), text that is not JSON (SyntaxError). Anything else (timeouts, refusals, conflicts) may
 * pass later.
 */
export function isPoison(e: unknown): boolean {
  for (let err = e, depth = 0; err instanceof Error && depth < 8; err = err.cause, depth++) {
    if (err instanceof RangeError || err instanceof TypeError || err instanceof SyntaxError) return true;
    // Core's errors are all about data that cannot be read: a run log that cannot be replayed, a
    // name that is not a subject token, a duration or an expression that does not parse.
    if (err instanceof JetstepError || err.name === "ZodError") return true;
  }
  return false;
}

/**
 * How to settle a message whose handling failed with `e`: dead-letter it (poison, delivered
 * `POISON_DELIVERIES` times), or redeliver it after a delay that grows with its deliveries (1 s
 * doubling to 30 s), so a message that keeps failing does not spin.
 */
export function afterFailure(e: unknown, deliveries: number): { deadLetter: true } | { retryInMs: number } {
  if (isPoison(e) && deliveries >= POISON_DELIVERIES) return { deadLetter: true };
  return { retryInMs: Math.min(30_000, 1000 * 2 ** Math.max(0, deliveries - 1)) };
}

/**
 * Parks `m` in DEAD_LETTERS under `source` with the reason, then terminates it. Resolves false
 * (and leaves `m` unsettled, to be redelivered) when the letter could not be stored.
 */
export async function deadLetterMessage(
  publisher: Publisher,
  source: string,
  m: Delivery,
  reason: string,
  limit: number,
  now: () => number = Date.now,
): Promise<boolean> {
  const letter = deadLetterJson(
    {
      reason,
      subject: m.subject,
      at: new Date(now()).toISOString(),
      stream: m.info.stream,
      seq: m.seq,
      deliveries: m.info.deliveryCount,
    },
    new TextDecoder().decode(m.data),
    limit,
  );
  const stored = await publisher.publish(Subjects.deadLetter(source), letter).catch(() => null);
  if (!stored?.ok) return false;
  m.term(reason.slice(0, 200));
  return true;
}

/**
 * Settles a message whose handling failed with `e` (see `afterFailure`): dead-letters it under
 * `source`, or naks it for redelivery after a growing delay. Resolves with what was done.
 */
export async function settleFailure(
  publisher: Publisher,
  source: string,
  m: Delivery,
  e: unknown,
  limit: number,
): Promise<{ deadLettered: true } | { retryInMs: number }> {
  const next = afterFailure(e, m.info.deliveryCount);
  if ("deadLetter" in next) {
    const reason = `${(e as Error)?.name ?? "Error"}: ${(e as Error)?.message ?? String(e)}`;
    if (await deadLetterMessage(publisher, source, m, reason, limit)) return { deadLettered: true };
  }
  const retryInMs = "retryInMs" in next ? next.retryInMs : 30_000;
  // Failed because the connection dropped, most likely: a nak sent before it is back is lost.
  await publisher.whenConnected();
  m.nak(retryInMs);
  return { retryInMs };
}
