/**
 * Every limit on input taken at the edge (HTTP gateway, NATS ingestion and registration), in one
 * place, each with the reason for its value. The gateway applies them before anything is stored,
 * so nothing accepted can later stop a consumer (a matcher or executor that overflows its stack,
 * a subject nats-server refuses). README.md "Limits" lists them with the errors they give.
 */

/**
 * Largest event, as JSON. An event travels in one NATS message (EVENTS), and again inside its
 * run's start command; nats-server's default max_payload is 1 MiB. A server configured with a
 * smaller max_payload lowers it to what that server takes.
 */
export const MAX_EVENT_BYTES = 512 * 1024;

/**
 * `defer()`: the largest input of one deferred run (it becomes the data of an event, below
 * MAX_EVENT_BYTES with room for `_inngest`), the most a run may defer, and the most input it may
 * hold in all (the inputs live in the run's log and state until the run ends). A defer over a
 * limit is recorded as rejected, and the run goes on.
 */
export const MAX_DEFER_INPUT_BYTES = 256 * 1024;
export const MAX_DEFERS_PER_RUN = 1000;
export const MAX_DEFER_INPUT_TOTAL_BYTES = 1024 * 1024;

/** Most events in one request or NATS message (each is validated before any is stored). */
export const MAX_EVENTS_PER_REQUEST = 5000;

/**
 * Deepest nesting of objects and arrays in a JSON body or message, counted within each element of
 * a top-level array (an event is level 1, its `data` level 2). Deeper values overflowed the stack
 * of whatever walked them recursively (JSON.stringify, zod, CEL, structuredClone): at 10,000
 * levels the request failed, at about 4,100 it was stored and the matcher or executor failed on
 * every redelivery. 64 is far above any real payload and far below any stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Longest event id. Ids are the stream's dedupe key (a `Nats-Msg-Id` header) and part of a KV key;
 * ULIDs (26), UUIDs (36) and Inngest's own ids fit with room for user-chosen ones.
 */
export const MAX_EVENT_ID_LENGTH = 256;

/**
 * An event id is printable ASCII without spaces (0x21–0x7E): it becomes a NATS header value,
 * which cannot hold CR or LF, and other control characters or spaces have no place in an id.
 */
export const EVENT_ID_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Longest event name, app id and function id, in characters. Each becomes a subject token (see
 * MAX_SUBJECT_BYTES): an event name `evt.<name>`, an app id `app.<id>` and `jetstep.call.<id>`, a
 * function id flow-control and idempotency keys.
 */
export const MAX_NAME_LENGTH = 256;

/**
 * Longest subject or KV key a name becomes, in bytes, as names.ts builds it (characters outside
 * [A-Za-z0-9_-] are escaped to 3 bytes each, so `user/signup` is 13 bytes and 256 `/` are 768).
 * nats-server closes the connection of a client that sends a protocol line longer than its
 * max_control_line (4 KiB by default), and every request on that connection fails with it; a KV
 * key also appears twice in a direct get's subject. 1 KiB leaves the rest of the line room.
 */
export const MAX_SUBJECT_BYTES = 1024;

/**
 * Latest event `ts` (ms since the epoch): 9999-12-31T23:59:59.999Z. Timers are set relative to it
 * (`timeouts.start`, cancelOn timeouts), and a time past JavaScript's last date breaks them.
 */
export const MAX_EVENT_TS = 253_402_300_799_999;

/**
 * Most functions one app registers. An app's registration is one KV value (one NATS message) that
 * every gateway, matcher and executor loads; the stored record must also fit the server's
 * max_payload (checked at registration).
 */
export const MAX_FUNCTIONS_PER_APP = 1000;

/** Longest URL (an app's or a step's): URLs past 2,048 characters are refused by many servers and proxies. */
export const MAX_URL_LENGTH = 2048;

/**
 * Request bodies, bytes: an over-limit body is refused with 413 as soon as it is known to be too
 * large (at once for a Content-Length over it), without reading the rest.
 */
export const MaxBodyBytes = {
  /**
   * `POST /e/:key`: 5,000 events of 1.6 KiB each. Larger sends are split (the SDKs send at most
   * 512 KiB per request).
   */
  events: 8 * 1024 * 1024,
  /**
   * `POST /fn/register` and checkpoints: each ends up in one NATS message, so the server's
   * max_payload (1 MiB by default, configurable to 64 MiB) is the real limit, checked after
   * parsing; this bounds what is read before that check.
   */
  large: 4 * 1024 * 1024,
  /** The other API routes (cancellations, apps, rerun, invoke): small JSON documents. */
  api: 1024 * 1024,
} as const;

/**
 * Time a client has to send a whole request (headers and body), ms. Slow senders held a
 * connection (and its buffered body) open indefinitely; a body of 8 MiB needs 280 KiB/s.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Time a client has to send a request's headers, ms (a connection that sends nothing is closed too). */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Room left for a message's headers (msg id, trace context) when a body is checked against the
 * server's max_payload.
 */
export const NATS_HEADER_ROOM = 4 * 1024;

/** Where JSON text nests deeper than allowed: the element of a top-level array, when it is one. */
export interface JsonTooDeep {
  element: number | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * Finds nesting deeper than `maxDepth` in JSON text, before it is parsed: one pass over the
 * characters, no recursion, so any depth is measured safely. Depth is counted within each element
 * of a top-level array (the array itself is not a level). Text that is not valid JSON is not
 * judged here (JSON.parse rejects it); the scan only guarantees that text it passes, once parsed,
 * nests at most `maxDepth` levels (one more for a top-level array).
 */
export function findJsonTooDeep(text: string, maxDepth: number = MAX_JSON_DEPTH): JsonTooDeep | null {
  let depth = 0;
  let inString = false;
  let topArray: boolean | undefined;
  let element = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      topArray ??= c === OPEN_ARRAY;
      depth++;
      if (depth - (topArray ? 1 : 0) > maxDepth) return { element: topArray ? element : undefined };
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    } else if (c === COMMA && depth === 1 && topArray) {
      element++;
    }
  }
  return null;
}

/**
 * The problem with a subject or key built from user input, or null when it fits MAX_SUBJECT_BYTES.
 * Subjects built by names.ts are ASCII (tokens are escaped), so their length is their size.
 */
export function subjectProblem(subject: string): string | null {
  return subject.length > MAX_SUBJECT_BYTES
    ? `becomes a ${subject.length}-byte subject or key once escaped; at most ${MAX_SUBJECT_BYTES} (characters other than letters, digits, - and _ take 3 bytes each)`
    : null;
}

/**
 * A durable endpoint's run in sync mode goes async after this long without a report from the app
 * (its request died, or ended without saying so): the executor then calls the endpoint to go on.
 */
export const ENDPOINT_SYNC_TIMEOUT_MS = 10 * 60_000;
