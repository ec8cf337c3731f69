/**
 * `idempotency: "<CEL>"`: at most one run per function and key value per 24 h. The first event
 * with a key value claims it in the IDEMPOTENCY bucket (create, 24 h TTL) for the run it starts;
 * later events with the same value start nothing. A redelivered event finds its own run id there
 * and proceeds (its start is deduplicated anyway). A key expression that fails on an event falls
 * back to the event id (no deduplication for that event) and is logged once per function.
 */

import { type CompiledValueExpression, fnv1a64, Keys, type StoredEvent } from "@jetstep/core";
import type { IdempotencyStore } from "@jetstep/jetstream";
import type { MatcherLog } from "./matcher-log.ts";

export class IdempotencyGate {
  constructor(
    private readonly store: IdempotencyStore,
    private readonly log: MatcherLog,
  ) {}

  /** Whether `runId` may start for this event (false: another run already holds the key). */
  async admit(
    fnId: string,
    expression: CompiledValueExpression,
    event: StoredEvent,
    runId: string,
  ): Promise<boolean> {
    const key = Keys.idempotency(fnId, keyHash(this.keyValue(fnId, expression, event)));
    return this.store.claim(key, runId);
  }

  private keyValue(fnId: string, expression: CompiledValueExpression, event: StoredEvent): unknown {
    const r = expression.evaluate({ event });
    if (r.error === undefined) return r.value;
    this.log.once(
      `idempotency|${fnId}`,
      { fnId },
      `idempotency key ${JSON.stringify(expression.source)} failed (${r.error}); such events are not deduplicated`,
    );
    return { eventId: event.id };
  }
}

export function keyHash(value: unknown): string {
  return fnv1a64(JSON.stringify(value) ?? "null")
    .toString(16)
    .padStart(16, "0");
}
