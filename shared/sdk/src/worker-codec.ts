/**
 * The worker protocol's mapping between NATS messages and the HTTP shapes the comm handler speaks
 * (docs/PROTOCOL.md, "Call body" / "Answers"): a call message carries the HTTP call's JSON body, its headers
 * under their HTTP names and its query string in `Jetstep-Query`; an answer carries the HTTP
 * answer's body and headers plus `Jetstep-Status`. Pure: no NATS client here.
 */
import {
  WORKER_BUSY_STATUS,
  WORKER_PROGRESS_STATUS,
  WorkerHeaders,
  WorkerUrls,
} from "@jetstep/core/protocol";
import type { HttpAnswer } from "./answer.ts";
import type { IncomingRequest } from "./comm-handler.ts";

/** Message headers as nats.js iterates them: name → values. */
export type HeaderEntries = Iterable<[string, string[]]>;

/** A case-insensitive lookup over message headers (first value of a repeated header). */
export function headerLookup(entries: HeaderEntries | undefined): (name: string) => string | undefined {
  const byName = new Map<string, string>();
  for (const [name, values] of entries ?? []) {
    const key = name.toLowerCase();
    if (!byName.has(key) && values[0] !== undefined) byName.set(key, values[0]);
  }
  return (name) => byName.get(name.toLowerCase());
}

/**
 * Presents a call message to the comm handler as the POST it stands for: the URL is the worker's
 * app URL (`nats://<appId>`) with the `Jetstep-Query` query string, every message header is
 * readable through `header(name)`, and the body is the message payload as text.
 */
export function callRequest(
  appId: string,
  headers: HeaderEntries | undefined,
  data: Uint8Array,
): IncomingRequest {
  const header = headerLookup(headers);
  const url = new URL(WorkerUrls.app(appId));
  url.search = header(WorkerHeaders.query) ?? "";
  const text = new TextDecoder().decode(data);
  return { method: "POST", url, header, readBody: async () => ({ kind: "raw", text }) };
}

/** The headers of an answer message: the HTTP answer's headers and `Jetstep-Status`. */
export function answerHeaders(answer: HttpAnswer): Record<string, string> {
  return { ...answer.headers, [WorkerHeaders.status]: String(answer.status) };
}

/** The headers of a progress message ("still working; expect the next one within `heartbeatMs`"). */
export function progressHeaders(heartbeatMs: number): Record<string, string> {
  return {
    [WorkerHeaders.status]: String(WORKER_PROGRESS_STATUS),
    [WorkerHeaders.heartbeatMs]: String(heartbeatMs),
  };
}

/** The headers of a busy answer: the worker runs `maxInFlight` calls and did not start this one. */
export function busyHeaders(): Record<string, string> {
  return { [WorkerHeaders.status]: String(WORKER_BUSY_STATUS) };
}
