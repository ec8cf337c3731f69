/**
 * Fitting appends into the server's largest message (`max_payload`, 1 MiB by default). A run's
 * entries usually go in one message; a large batch (an answer that starts 10,000 invokes) is split
 * into several, each under the limit and appended in order. One entry that can never fit (a step
 * that returned 5 MB) is recorded as a failure saying so, instead of being retried forever.
 */
import type { NewRunLogEntry, RunLogEntry } from "@jetstep/core";

/** Room left for the message's headers (msg id, expected sequence, trace context). */
export const HEADER_ROOM = 4 * 1024;

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/**
 * An entry as it can be stored: itself when it fits in `limit` bytes, else the failure it stands
 * for (step → step.failed, compensation → compensation.failed, anything else → run.failed).
 */
export function fitEntry(entry: NewRunLogEntry, limit: number): NewRunLogEntry {
  const size = bytes(entry);
  if (size <= limit) return entry;
  const message = (what: string) =>
    `${what} is ${size} bytes as JSON; one message of the run's log holds at most ${limit} (the server's max_payload)`;
  const error = (what: string) => ({ name: "OutputTooLargeError", message: message(what) });
  switch (entry.type) {
    case "step.completed":
      return {
        type: "step.failed",
        ts: entry.ts,
        stepId: entry.stepId,
        name: entry.name,
        error: error(`the result of step "${entry.name}"`),
        attempt: entry.attempt,
        startedAt: entry.startedAt,
      };
    case "compensation.completed":
      return {
        type: "compensation.failed",
        ts: entry.ts,
        stepId: entry.stepId,
        error: error(`the result of the compensation of step ${entry.stepId}`),
        attempt: entry.attempt,
        startedAt: entry.startedAt,
      };
    case "run.completed":
      return { type: "run.failed", ts: entry.ts, error: error("the function's result") };
    default:
      return { type: "run.failed", ts: entry.ts, error: error(`a "${entry.type}" entry`) };
  }
}

/** Splits numbered entries into runs of consecutive entries, each list's JSON within `limit` bytes. */
export function chunkEntries(entries: readonly RunLogEntry[], limit: number): RunLogEntry[][] {
  const chunks: RunLogEntry[][] = [];
  let current: RunLogEntry[] = [];
  let size = 2; // "[" and "]"
  for (const e of entries) {
    const n = bytes(e) + 1; // and its comma
    if (current.length > 0 && size + n > limit) {
      chunks.push(current);
      current = [];
      size = 2;
    }
    current.push(e);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
