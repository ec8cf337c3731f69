import { fnv1a64 } from "./hash.ts";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function encodeTime(ms: number): string {
  let out = "";
  let t = Math.max(0, Math.floor(ms));
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeBits(value: bigint, chars: number): string {
  let out = "";
  let v = value;
  for (let i = 0; i < chars; i++) {
    out = CROCKFORD[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

/** A ULID (26 chars, time-ordered) from an injected clock value and random source. */
export function ulid(nowMs: number, random: () => number): string {
  let out = encodeTime(nowMs);
  for (let i = 0; i < 16; i++) out += CROCKFORD[Math.floor(random() * 32) % 32];
  return out;
}

/**
 * A ULID-shaped id derived deterministically from `seed`: the time part is `tsMs`, the 80 random
 * bits come from two FNV-1a-64 hashes of the seed. The same (seed, ts) always gives the same id, so
 * a redelivered event creates the same run id and its start is deduplicated.
 */
export function deterministicUlid(tsMs: number, seed: string): string {
  const a = fnv1a64(`a:${seed}`);
  const b = fnv1a64(`b:${seed}`);
  const bits = ((a & 0xffffffffffn) << 40n) | (b & 0xffffffffffn);
  return encodeTime(tsMs) + encodeBits(bits, 16);
}

/** The run id for function `fnId` started by event `eventId`. */
export function runIdFor(eventId: string, fnId: string, eventTs: number): string {
  return deterministicUlid(eventTs, `${eventId}\u0000${fnId}`);
}

/**
 * The `inngest/function.invoked` event a `step.invoke` sends (its id, from the invoke's correlation
 * id and the step's start), and so the child run it starts: the same wherever it is computed.
 */
export function invokedEventId(correlationId: string, stepStartedAt: number): string {
  return deterministicUlid(stepStartedAt, `${correlationId}:invoked`);
}

/** The run a `step.invoke` starts in `fnId` (see `invokedEventId`). */
export function invokedRunId(correlationId: string, fnId: string, stepStartedAt: number): string {
  return runIdFor(invokedEventId(correlationId, stepStartedAt), fnId, stepStartedAt);
}
