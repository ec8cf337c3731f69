/**
 * Reading a stream backwards by sequence, a page at a time, with direct gets (never a consumer):
 * what the API's run, event and dead-letter listings do.
 */
import type { StoredMsg } from "@nats-io/jetstream";
import type { Nats } from "./connection.ts";

/** Messages looked at per listing at most. */
const MAX_SCAN = 20_000;

/** What a page's parser sees of a message besides its JSON. */
export interface PagedMessage {
  seq: number;
  subject: string;
}

export interface Page<T> {
  items: T[];
  cursor: number | null;
}

/** Messages read per batched direct get when a listing walks a stream backwards. */
const WINDOW = 256;

/**
 * Reads `stream` backwards from below `cursor`, keeping items `parse` accepts, until `limit` (at
 * most MAX_SCAN messages looked at). By batched direct gets, a window of WINDOW sequences per
 * request (a filter that matches little looked at 20,000 messages one round trip each: seconds
 * per request under load); by single gets when the server has no batched ones, or (a stream
 * without direct gets) by the leader's `MSG.GET`.
 */
export async function pageBackwards<T>(
  nats: Nats,
  stream: string,
  cursor: number | undefined,
  limit: number,
  parse: (json: unknown, m: PagedMessage) => T | undefined | Promise<T | undefined>,
  direct = true,
): Promise<Page<T>> {
  const state = (await nats.jsm.streams.info(stream)).state;
  const items: T[] = [];
  const take = async (m: StoredMsg): Promise<void> => {
    let json: unknown;
    try {
      json = m.json();
    } catch {
      return;
    }
    const item = await parse(json, m);
    if (item !== undefined) items.push(item);
  };
  let seq = Math.min(cursor !== undefined ? cursor - 1 : state.last_seq, state.last_seq);
  let scanned = 0;
  let batched = direct;
  while (seq >= state.first_seq && seq > 0 && items.length < limit && scanned < MAX_SCAN) {
    const hi = seq;
    if (!batched) {
      const m = await (direct
        ? nats.jsm.direct.getMessage(stream, { seq })
        : nats.jsm.streams.getMessage(stream, { seq })
      ).catch(() => null);
      scanned++;
      seq--;
      if (m) await take(m);
      continue;
    }
    const lo = Math.max(state.first_seq, 1, hi - WINDOW + 1, hi - (MAX_SCAN - scanned) + 1);
    const window = await readWindow(nats, stream, lo, hi).catch(() => undefined);
    if (window === undefined) {
      batched = false; // a server without batched direct gets
      continue;
    }
    seq = lo - 1; // the whole window, unless the page fills up within it
    for (const m of window) {
      if (items.length >= limit) {
        seq = m.seq; // continue at this one
        break;
      }
      await take(m);
    }
    scanned += hi - seq;
  }
  return { items, cursor: seq >= state.first_seq && seq > 0 ? seq + 1 : null };
}

/** The messages of sequences `lo`..`hi` of `stream`, newest first, in one batched direct get. */
async function readWindow(nats: Nats, stream: string, lo: number, hi: number): Promise<StoredMsg[]> {
  const out: StoredMsg[] = [];
  const iter = await nats.jsm.direct.getBatch(stream, { seq: lo, batch: hi - lo + 1 });
  for await (const m of iter) if (m.seq <= hi) out.push(m);
  return out.reverse();
}
