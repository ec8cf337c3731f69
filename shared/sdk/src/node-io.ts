import type { IncomingMessage, ServerResponse } from "node:http";
import type { HttpAnswer } from "./answer.ts";
import type { IncomingRequest } from "./comm-handler.ts";
import { BodyTooLargeError } from "./errors.ts";
import type { ReceivedBody } from "./signature.ts";
import { Header } from "./wire.ts";

/** Largest request body read from a stream (step memos can be large). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Reads a node request stream as UTF-8 text. Rejects with BodyTooLargeError past the limit. */
export function readStream(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      if (tooLarge) return; // keep draining so the 413 answer can still be written
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The absolute URL of a node request (protocol from X-Forwarded-Proto or the socket). */
export function requestUrl(req: IncomingMessage, path: string | undefined = req.url): URL {
  const forwarded = firstHeader(req, Header.ForwardedProto)?.split(",")[0]?.trim();
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const protocol = forwarded || (encrypted ? "https" : "http");
  return new URL(path ?? "/", `${protocol}://${req.headers.host ?? "localhost"}`);
}

/** A header value of a node request (first one if repeated). */
export function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Presents a node request to the comm handler; `body` overrides reading the stream. */
export function toIncomingRequest(
  req: IncomingMessage,
  opts: { path?: string; body?: () => Promise<ReceivedBody>; maxBodyBytes?: number } = {},
): IncomingRequest {
  return {
    method: req.method ?? "GET",
    url: requestUrl(req, opts.path),
    header: (name) => firstHeader(req, name),
    readBody: opts.body ?? (async () => ({ kind: "raw", text: await readStream(req, opts.maxBodyBytes) })),
  };
}

/** Writes an answer to a node response. */
export function writeAnswer(res: ServerResponse, answer: HttpAnswer): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}
