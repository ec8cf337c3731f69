/** RUN_INDEX: the latest state of each run (one message per run), for listings. */
import { type RunIndexRecord, RunIndexRecordSchema, Streams, Subjects } from "@jetstep/core";
import type { Nats } from "./connection.ts";

/**
 * The run's latest RUN_INDEX record by direct get (undefined: none, unreadable, or the read
 * failed: a listing's record is never worth failing a request for).
 */
export async function readRunIndex(nats: Nats, runId: string): Promise<RunIndexRecord | undefined> {
  const m = await nats.jsm.direct
    .getMessage(Streams.runIndex, { last_by_subj: Subjects.runIndex(runId) })
    .catch(() => null);
  if (!m) return undefined;
  const parsed = RunIndexRecordSchema.safeParse(m.json());
  return parsed.success ? parsed.data : undefined;
}
