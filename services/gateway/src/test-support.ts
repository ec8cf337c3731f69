/**
 * Shared by the gateway's route tests (not exported from index.ts): fakes of the few NATS calls the
 * checkpoint and endpoint routes make, a run log held in memory, and a fastify app parsing bodies as
 * the gateway does.
 */
import { Keys, type RunLogEntry, type StoredEvent, Subjects } from "@jetstep/core";
import type { KV, LogMessage, Nats, RunLog } from "@jetstep/jetstream";
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from "fastify";

/** A fastify app that hands routes their body as a string, as `buildGateway` does. */
export function stringBodyApp(): FastifyInstance {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));
  return app;
}

/** A request sent on the fake connection: its subject and JSON payload. */
export interface SentRequest {
  subject: string;
  payload: unknown;
}

/**
 * The part of a NATS connection the checkpoint routes use: `info.max_payload` and `request`, which
 * answers with `answer(subject, payload)` (a throw is what no responders looks like).
 */
export function fakeNats(
  answer: (subject: string, payload: unknown) => unknown = () => {
    throw new Error("503 no responders");
  },
  maxPayload = 1024 * 1024,
): { nats: Nats; sent: SentRequest[] } {
  const sent: SentRequest[] = [];
  const nc = {
    info: { max_payload: maxPayload },
    request: async (subject: string, data: string) => {
      const payload = JSON.parse(data) as unknown;
      sent.push({ subject, payload });
      const reply = answer(subject, payload);
      return { json: () => reply };
    },
  };
  return { nats: { nc } as unknown as Nats, sent };
}

/** A LEASES bucket holding the deployment's partition count (none: no executor started yet). */
export function fakeLeases(partitions: number | undefined): KV {
  const get = async (key: string) =>
    key === Keys.partitionCount && partitions !== undefined
      ? { operation: "PUT", string: () => String(partitions) }
      : null;
  return { get } as unknown as KV;
}

/** A bucket with nothing in it (a SNAPSHOTS bucket: every run is read from its log). */
export const emptyKv = (): KV => ({ get: async () => null }) as unknown as KV;

/** Run logs in memory, each one message: what `readRun` reads of a `RunLog`. */
export class MemoryRunLog {
  readonly runs = new Map<string, RunLogEntry[]>();

  async read(runId: string, afterSeq = 0): Promise<LogMessage[]> {
    const entries = this.runs.get(runId);
    return entries && afterSeq < 1 ? [{ seq: 1, entries }] : [];
  }

  async lastSeq(runId: string): Promise<number> {
    return this.runs.has(runId) ? 1 : 0;
  }

  /** This log as the `RunLog` a route takes (only `read` and `lastSeq` are there). */
  asRunLog(): RunLog {
    return this as unknown as RunLog;
  }
}

/** A stored event named `name`. */
export const storedEvent = (id: string, name = "shop/order.placed", data = {}): StoredEvent => ({
  id,
  name,
  data,
  ts: 1_700_000_000_000,
});

/** The first entry of a run's log: the run of `fnId` started by `event` on `partition`. */
export function scheduled(
  runId: string,
  fnId: string,
  opts: { partition?: number; event?: StoredEvent } = {},
): RunLogEntry {
  const event = opts.event ?? storedEvent(`${runId}-event`);
  return {
    n: 1,
    ts: 1_700_000_000_000,
    type: "run.scheduled",
    runId,
    fnId,
    appId: "shop",
    url: "http://app.test/api/inngest",
    maxAttempts: 4,
    partition: opts.partition ?? 0,
    event,
    events: [event],
  };
}

/** An entry without its number and time (`then` gives them). */
type Unnumbered = RunLogEntry extends infer E ? (E extends RunLogEntry ? Omit<E, "n" | "ts"> : never) : never;

/** Entries after `scheduled`, numbered from 2. */
export function then(...entries: Unnumbered[]): RunLogEntry[] {
  return entries.map((e, i) => ({ ...e, n: i + 2, ts: 1_700_000_001_000 + i }) as RunLogEntry);
}

/** The inbox subject of a partition (what the cancel and rerun routes publish to). */
export const inboxOf = (partition: number): string => Subjects.inbox(partition);

/** A response's JSON body, typed loosely for assertions. */
export function bodyOf(res: LightMyRequestResponse): {
  status?: number;
  error?: string;
  [k: string]: unknown;
} {
  return res.body === "" ? {} : (res.json() as { status?: number; error?: string });
}
