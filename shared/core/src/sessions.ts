/**
 * Event sessions (`meta.sessions`, the official v4 SDK's `ctx.sessions`): up to five `key → id`
 * pairs that group runs. A client sends two layers and Jetstep stores their merge:
 *
 * - `meta.propagated_sessions`: stamped by the SDK from the sending run's sessions (through
 *   `step.sendEvent`, `step.invoke`, or `send()` inside a run); string or number ids only.
 * - `meta.sessions`: set by hand; wins per key. A `null` id removes an inherited key, and
 *   `sessions: null` removes them all (RFC 7386 tombstones, never stored).
 *
 * The stored event has `meta: {sessions}` (ids as strings) or no `meta` when none are left; more
 * than MAX_EVENT_SESSIONS is refused, naming the field.
 */
import { z } from "zod";

export const MAX_EVENT_SESSIONS = 5;
const MAX_SESSION_PART = 256;

const sessionId = z.union([
  z
    .string()
    .min(1, "must be a non-empty string")
    .max(MAX_SESSION_PART, `must be at most ${MAX_SESSION_PART} characters`),
  z.number().refine(Number.isFinite, "must be a finite number"),
]);
const sessionMap = <V extends z.ZodType>(value: V) =>
  z.record(z.string().min(1, "a session key must be a non-empty string").max(MAX_SESSION_PART), value);

/** `meta` as a client sends it. */
export const IncomingEventMetaSchema = z
  .object({
    sessions: sessionMap(sessionId.nullable()).nullable().optional(),
    propagated_sessions: sessionMap(sessionId).optional(),
  })
  .loose();
export type IncomingEventMeta = z.infer<typeof IncomingEventMetaSchema>;

/** `meta` as stored. */
export const StoredEventMetaSchema = z
  .object({ sessions: z.record(z.string(), z.string()).optional() })
  .loose();
export type StoredEventMeta = z.infer<typeof StoredEventMetaSchema>;

export class EventSessionsError extends Error {
  override name = "EventSessionsError";
}

/** The stored `meta` for what a client sent (undefined: none to store); throws EventSessionsError. */
export function storedEventMeta(meta: IncomingEventMeta | undefined): StoredEventMeta | undefined {
  if (!meta) return undefined;
  const merged = new Map<string, string>();
  if (meta.sessions !== null)
    for (const [key, id] of Object.entries(meta.propagated_sessions ?? {})) merged.set(key, String(id));
  for (const [key, id] of Object.entries(meta.sessions ?? {})) {
    if (id === null) merged.delete(key);
    else merged.set(key, String(id));
  }
  if (merged.size > MAX_EVENT_SESSIONS)
    throw new EventSessionsError(
      `has ${merged.size} sessions once merged; at most ${MAX_EVENT_SESSIONS} per event`,
    );
  return merged.size === 0 ? undefined : { sessions: Object.fromEntries(merged) };
}
