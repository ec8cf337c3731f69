/**
 * ROLLUPS (`roll.<fnId>`): what executors counted of each function, per minute (core's
 * rollups.ts), kept 8 days so that a week's chart is whole. Appended every few seconds by each
 * executor; read for a function and a time range with batched direct gets from the range's start
 * (by time, so a week's chart never reads the weeks before it).
 */
import { type FunctionRollup, FunctionRollupSchema, MINUTE_MS, Streams, Subjects } from "@jetstep/core";
import type { Nats } from "./connection.ts";
import { isNotFound } from "./errors.ts";
import type { Publisher } from "./publisher.ts";

/** Records read per batched direct get. */
const BATCH = 1_000;
/** Records read per range at most (a week of one busy function from a handful of executors). */
const MAX_RECORDS = 200_000;

export class RollupLog {
  constructor(
    private readonly nats: Nats,
    private readonly publisher: Publisher,
  ) {}

  async append(record: FunctionRollup): Promise<void> {
    await this.publisher.publishJson(Subjects.rollup(record.fnId), record);
  }

  /**
   * Records of function `fnId` for minutes in [fromMs, toMs). A record is appended at most a flush
   * interval after its minute ends, so reading starts a minute before `fromMs` (by the time the
   * server stored it) and keeps what the records themselves say is in range.
   */
  async read(fnId: string, fromMs: number, toMs: number): Promise<FunctionRollup[]> {
    const out: FunctionRollup[] = [];
    const subject = Subjects.rollup(fnId);
    let next: { start_time: Date } | { seq: number } = { start_time: new Date(fromMs - MINUTE_MS) };
    let read = 0;
    while (read < MAX_RECORDS) {
      let got = 0;
      let last = 0;
      let past = false;
      const batch = await this.nats.jsm.direct.getBatch(Streams.rollups, {
        ...next,
        batch: BATCH,
        next_by_subj: subject,
      });
      try {
        for await (const m of batch) {
          got++;
          last = m.seq;
          // Stored after the range ended, and a flush interval later still: nothing further is in it.
          if (m.time.getTime() > toMs + 2 * MINUTE_MS) past = true;
          const parsed = FunctionRollupSchema.safeParse(m.json());
          if (!parsed.success) continue;
          const r = parsed.data;
          if (r.fnId === fnId && r.minute >= fromMs - (fromMs % MINUTE_MS) && r.minute < toMs) out.push(r);
        }
      } catch (e) {
        // Nothing (more) stored for the subject from there on.
        if (!isNotFound(e)) throw e;
        break;
      }
      read += got;
      if (got < BATCH || past) break;
      next = { seq: last + 1 };
    }
    return out;
  }
}
