/**
 * `idempotency: "<CEL>"`: at most one run per function and key value per 24 h. The first event
 * with a key value claims it in the IDEMPOTENCY bucket (create, 24 h TTL) for the run it starts;
 * later events with the same value start nothing. A redelivered event finds its own run id there
 * and proceeds (its start is deduplicated anyway). A key expression that fails on an event falls
 * back to the event id (no deduplication for that event) and is logged once per function.
 */

import {
  type CompiledValueExpression,
  compileValueExpression,
  fnv1a64,
  Keys,
  type StoredEvent,
} from "@jetstep/core";
import type { KV } from "@jetstep/jetstream";
import type { MatcherLog } from "./matcher-log.ts";

export class IdempotencyGate {
  private readonly compiled = new Map<string, CompiledValueExpression | Error>();

  constructor(
    private readonly kv: KV,
    private readonly log: MatcherLog,
  ) {}

  /** Whether `runId` may start for this event (false: another run already holds the key). */
  async admit(fnId: string, expression: string, event: StoredEvent, runId: string): Promise<boolean> {
    const key = Keys.idempotency(fnId, keyHash(this.keyValue(fnId, expression, event)));
    try {
      await this.kv.create(key, runId);
      return true;
    } catch {
      const holder = await this.kv.get(key);
      return holder?.operation === "PUT" && holder.string() === runId;
    }
  }

  private keyValue(fnId: string, expression: string, event: StoredEvent): unknown {
    let c = this.compiled.get(expression);
    if (!c) {
      try {
        c = compileValueExpression(expression);
      } catch (e) {
        c = e as Error;
      }
      this.compiled.set(expression, c);
    }
    const r = c instanceof Error ? { error: c.message } : c.evaluate({ event });
    if (r.error === undefined) return r.value;
    this.log.once(
      `idempotency|${fnId}`,
      { fnId },
      `idempotency key ${JSON.stringify(expression)} failed (${r.error}); such events are not deduplicated`,
    );
    return { eventId: event.id };
  }
}

export function keyHash(value: unknown): string {
  return fnv1a64(JSON.stringify(value) ?? "null")
    .toString(16)
    .padStart(16, "0");
}
