import type { SerializedError } from "./wire.ts";

const MAX_CAUSE_DEPTH = 5;

/**
 * Serializes a thrown value for the wire as the official SDK does: `{name, message, stack,
 * __serialized: true}` plus `cause` (recursively, 5 levels) and a string `code` when present.
 * Non-Error values become an Error whose message is the value (JSON for objects).
 */
export function serializeError(thrown: unknown, depth = 0): SerializedError {
  const error = toError(thrown);
  const out: SerializedError = {
    name: error.name || "Error",
    message: error.message || "Unknown error",
    stack: error.stack ?? "",
    __serialized: true,
  };
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") out.code = code;
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    out.cause =
      typeof error.cause === "object" && error.cause !== null
        ? serializeError(error.cause, depth + 1)
        : error.cause;
  }
  return out;
}

/** Whatever was thrown, as an Error (the handler context and retriability checks need one). */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === "object" && thrown !== null) {
    const o = thrown as { name?: unknown; message?: unknown; stack?: unknown };
    if (typeof o.message === "string") {
      const e = new Error(o.message);
      if (typeof o.name === "string") e.name = o.name;
      e.stack = typeof o.stack === "string" ? o.stack : "";
      return e;
    }
    return new Error(safeJson(thrown));
  }
  return new Error(String(thrown));
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
