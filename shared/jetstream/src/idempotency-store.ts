/**
 * IDEMPOTENCY: one key per function and idempotency key value (`Keys.idempotency`), holding the id
 * of the run that claimed it; kept 24 h (the bucket's TTL).
 */
import type { KV } from "@nats-io/kv";
import { isConflict } from "./errors.ts";

export class IdempotencyStore {
  constructor(private readonly kv: KV) {}

  /**
   * Claims `key` for run `runId`. Resolves true when it is this run's (claimed now, or earlier by
   * the same run: a redelivered event), false when another run holds it.
   */
  async claim(key: string, runId: string): Promise<boolean> {
    try {
      await this.kv.create(key, runId);
      return true;
    } catch (e) {
      if (!isConflict(e)) throw e; // the key exists: is it this run's (a redelivered event)?
      const holder = await this.kv.get(key);
      return holder?.operation === "PUT" && holder.string() === runId;
    }
  }
}
