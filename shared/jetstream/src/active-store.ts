/**
 * ACTIVE: one key per unfinished run marking it due (`p<n>.<runId>`: resumed when a new owner takes
 * the partition) or parked (`q<n>.<runId>`: woken by its timers or waits only). Written in bursts
 * through the pipelined publisher; removed without delete markers, so listings stay short.
 */
import { type ActiveRun, ActiveRunSchema, Buckets } from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import type { Nats } from "./connection.ts";
import { kvPut } from "./kv-publish.ts";
import type { Publisher } from "./publisher.ts";
import { eraseKvKey, listKvKeys, scanKvKeys } from "./subject-scan.ts";

export class ActiveStore {
  /** `publisher` is needed to `mark` only (readers pass none). */
  constructor(
    private readonly kv: KV,
    private readonly nats: Nats,
    private readonly publisher?: Publisher,
  ) {}

  /** Writes the marker `key` (`Keys.active` or `Keys.parked`) of a run. */
  async mark(key: string, run: ActiveRun): Promise<void> {
    if (!this.publisher) throw new Error("ActiveStore: marking needs a publisher");
    await kvPut(this.publisher, Buckets.active, key, JSON.stringify(run));
  }

  /** Removes marker `key` leaving no delete marker (a no-op when it is not there). */
  erase(key: string): Promise<void> {
    return eraseKvKey(this.nats.jsm, Buckets.active, key);
  }

  /** Keys matching `filter` (`p3.>`), read with one ordered consumer (fails rather than hang). */
  listKeys(filter: string): Promise<string[]> {
    return listKvKeys(this.nats.js, Buckets.active, filter);
  }

  /** Keys matching `filter`, scanned without a consumer (works while consumers cannot be made). */
  async scanKeys(filter: string): Promise<string[]> {
    const out: string[] = [];
    for await (const key of scanKvKeys(this.nats.jsm, Buckets.active, filter)) out.push(key);
    return out;
  }

  /** Every marker with its run, in key order; markers whose value does not parse are skipped. */
  async *entries(): AsyncGenerator<{ key: string; run: ActiveRun }> {
    for (const key of await listKvKeys(this.nats.js, Buckets.active, ">")) {
      const e = await this.kv.get(key);
      if (e?.operation !== "PUT") continue;
      const parsed = ActiveRunSchema.safeParse(safeJson(() => e.json()));
      if (parsed.success) yield { key, run: parsed.data };
    }
  }
}

function safeJson(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return undefined;
  }
}
