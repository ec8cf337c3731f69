import type { SerializedError } from "./wire.ts";

/** A completed step as the executor sends it back in `steps[<hash>]`. */
export type MemoEntry = { kind: "data"; data: unknown } | { kind: "error"; error: SerializedError };

/**
 * Reads one memo value with the official SDK's rules: an object whose only keys are `data` (and
 * optionally `type: "data"`) is `{data}`; likewise `{error}`; anything else — `null` for a finished
 * sleep or timed-out wait, an event object for a matched wait — is the data itself.
 */
export function parseMemoEntry(value: unknown): MemoEntry {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => k !== "type");
    if (keys.length === 1 && keys[0] === "data" && (obj.type === undefined || obj.type === "data")) {
      return { kind: "data", data: obj.data };
    }
    if (keys.length === 1 && keys[0] === "error" && (obj.type === undefined || obj.type === "error")) {
      return { kind: "error", error: normalizeError(obj.error) };
    }
  }
  return { kind: "data", data: value };
}

function normalizeError(raw: unknown): SerializedError {
  const o = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const message =
    typeof o.message === "string" && o.message !== ""
      ? o.message
      : typeof o.error === "string"
        ? o.error
        : "Unknown error";
  return {
    ...o,
    name: typeof o.name === "string" && o.name !== "" ? o.name : "Error",
    message,
    stack: typeof o.stack === "string" ? o.stack : "",
    __serialized: true,
  };
}
