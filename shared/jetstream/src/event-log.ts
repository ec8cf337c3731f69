/** Reading EVENTS without a consumer: its last sequence, and one event name's events by direct get. */
import { type StoredEvent, StoredEventSchema, Streams, Subjects } from "@jetstep/core";
import type { JetStreamManager } from "@nats-io/jetstream";

export interface SequencedEvent {
  seq: number;
  event: StoredEvent;
}

export class EventLog {
  constructor(private readonly jsm: JetStreamManager) {}

  /**
   * The JSON of the event stored at sequence `seq`, read from the stream's leader (null: no longer
   * stored). A payload that is not JSON throws.
   */
  async at(seq: number): Promise<unknown | null> {
    const m = await this.jsm.streams.getMessage(Streams.events, { seq });
    return m ? m.json() : null;
  }

  /** The EVENTS stream's last sequence. */
  async lastSeq(): Promise<number> {
    return (await this.jsm.streams.info(Streams.events)).state.last_seq;
  }

  /** Events named `name` stored after `afterSeq`, in order, at most `limit`. */
  async after(
    name: string,
    afterSeq: number,
    limit: number,
    untilSeq = Number.POSITIVE_INFINITY,
  ): Promise<SequencedEvent[]> {
    const subject = Subjects.event(name);
    const out: SequencedEvent[] = [];
    let seq = afterSeq + 1;
    while (out.length < limit && seq <= untilSeq) {
      const m = await this.jsm.direct.getMessage(Streams.events, { next_by_subj: subject, seq });
      if (!m || m.seq > untilSeq) break;
      const parsed = StoredEventSchema.safeParse(m.json());
      if (parsed.success) out.push({ seq: m.seq, event: parsed.data });
      seq = m.seq + 1;
    }
    return out;
  }
}
