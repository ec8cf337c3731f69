/**
 * Telling NATS errors apart by what they mean, not by their wording: services and stores ask
 * these instead of matching messages or names. Codes as nats-server 2.15 answers (checked against
 * it in jetstream.test.ts).
 */
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";

/** `sequence <n> not found`: deleting a message already deleted (not in JetStreamApiCodes). */
const SEQUENCE_NOT_FOUND = 10043;
/**
 * "message delete failed", whose description says why: deleting the last message of a stream
 * again answers this code with "no message found". The one place a description is read.
 */
const MSG_DELETE_FAILED = 10057;

const apiCode = (e: unknown): number | undefined => (e instanceof JetStreamApiError ? e.code : undefined);

/** The message or key asked for is not there (deleted, expired, never stored). */
export function isNotFound(e: unknown): boolean {
  const c = apiCode(e);
  if (c === JetStreamApiCodes.NoMessageFound || c === SEQUENCE_NOT_FOUND) return true;
  if (c === MSG_DELETE_FAILED)
    return /no message found|not found/i.test((e as JetStreamApiError).apiError().description);
  // A direct get answers with a 404 status rather than an API error.
  return (
    !(e instanceof JetStreamApiError) && e instanceof JetStreamError && (e as { code?: unknown }).code === 404
  );
}

/**
 * A compare-and-set lost: the key or subject changed since it was read (`update`), or already
 * exists (`create`). Read again and retry; any other error is a failure.
 */
export function isConflict(e: unknown): boolean {
  const c = apiCode(e);
  return (
    c === JetStreamApiCodes.StreamWrongLastSequence || c === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  );
}
