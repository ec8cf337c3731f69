/**
 * The sync status of each app URL, kept in the FUNCTIONS bucket beside the registrations (keys
 * `sync.<url>`, chosen by the gateway): what the last sync of that URL answered. The value's shape
 * is the gateway's (`T`).
 */
import { Buckets } from "@jetstep/core";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { kvSubject } from "./kv-publish.ts";
import { scanSubjects } from "./subject-scan.ts";

/** A listed status: `value` undefined when the stored value is not JSON. */
export interface ListedStatus<T> {
  key: string;
  value: T | undefined;
}

export class SyncStatusStore<T> {
  /** `kv` is bucket `bucket` (FUNCTIONS), opened; listings scan it through `jsm`. */
  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string = Buckets.functions,
  ) {}

  /** Writes `value` at `key`. */
  async put(key: string, value: T): Promise<void> {
    await this.kv.put(key, JSON.stringify(value));
  }

  /**
   * Writes `value` at `key` only while the key holds a value, by compare-and-set: a key removed
   * (or written) since it was read keeps what it has. Resolves whether it was written.
   */
  async putIfPresent(key: string, value: T): Promise<boolean> {
    const e = await this.kv.get(key);
    if (e?.operation !== "PUT") return false;
    try {
      await this.kv.update(key, JSON.stringify(value), e.revision);
      return true;
    } catch {
      return false; // changed meanwhile (removed, or written by another sync): theirs stands
    }
  }

  /** The value at `key`; undefined when there is none (or it is not JSON). */
  async get(key: string): Promise<T | undefined> {
    const e = await this.kv.get(key);
    if (e?.operation !== "PUT") return undefined;
    try {
      return e.json<T>();
    } catch {
      return undefined;
    }
  }

  /** Deletes `key`. */
  async remove(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  /**
   * Every key matching `filter` (`sync.>`) that holds a value, with it. Scanned without a consumer
   * (`scanSubjects`, one request per key): the API and the sync loop list these every few seconds,
   * and an ordered consumer per listing was left on the server for its 5-minute inactivity
   * threshold (1,000 of them and every listing failed: "maximum consumers limit reached").
   */
  async list(filter: string): Promise<ListedStatus<T>[]> {
    // A key written while the scan goes on is met twice (its old message, then the new one, which
    // is further on): the last met stands, and a delete marker met last removes the key.
    const latest = new Map<string, T | undefined>();
    const prefix = kvSubject(this.bucket, "");
    for await (const m of scanSubjects(this.jsm, `KV_${this.bucket}`, `${prefix}${filter}`)) {
      const key = m.subject.slice(prefix.length);
      const op = m.header.get("KV-Operation");
      latest.delete(key);
      if (op === "DEL" || op === "PURGE") continue;
      let value: T | undefined;
      try {
        value = m.json<T>();
      } catch {
        value = undefined;
      }
      latest.set(key, value);
    }
    return [...latest].map(([key, value]) => ({ key, value }));
  }
}
