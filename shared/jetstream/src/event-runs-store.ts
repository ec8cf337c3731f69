/**
 * EVENT_RUNS: one key per event id (`Keys.eventRuns`) listing the runs the event started and the
 * functions it skipped, with the event's time and EVENTS sequence (what `GET /v1/events/:id` and
 * `/runs` read). Written by the matcher, kept 7 days (the bucket's TTL).
 */
import { Buckets, type EventRuns, Keys } from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import { kvPut } from "./kv-publish.ts";
import type { Publisher } from "./publisher.ts";

/** An event's record: `ts` and `seq` are there in every record the matcher writes. */
export type EventRunsRecord = EventRuns & { ts?: number; seq?: number };

export class EventRunsStore {
  /** `publisher` is needed by `record` only. */
  constructor(
    private readonly kv: KV,
    private readonly publisher?: Publisher,
  ) {}

  /** The record of event `eventId`, if any. */
  async get(eventId: string): Promise<EventRunsRecord | undefined> {
    const e = await this.kv.get(Keys.eventRuns(eventId));
    return e?.operation === "PUT" ? e.json<EventRunsRecord>() : undefined;
  }

  /** Writes `record` (one request: a single record rewritten, as a debounced run adds itself). */
  async put(record: EventRunsRecord): Promise<void> {
    await this.kv.put(Keys.eventRuns(record.eventId), JSON.stringify(record));
  }

  /** Writes `record` through the pipelined publisher (one per matched event, in bursts). */
  async record(record: EventRunsRecord): Promise<void> {
    if (!this.publisher) throw new Error("EventRunsStore: record needs a publisher");
    await kvPut(this.publisher, Buckets.eventRuns, Keys.eventRuns(record.eventId), JSON.stringify(record));
  }
}
