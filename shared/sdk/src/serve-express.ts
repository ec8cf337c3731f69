import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequestHandler, type ServeOptions } from "./comm-handler.ts";
import { readStream, toIncomingRequest, writeAnswer } from "./node-io.ts";
import type { ReceivedBody } from "./signature.ts";

const FRAMEWORK = "express";

/** The parts of an express request the handler uses (an express `Request` fits). */
export interface ExpressLikeRequest extends IncomingMessage {
  /** Set by body-parser (`express.json()`, `express.text()`, `express.raw()`), if mounted. */
  body?: unknown;
  /** The full path including the mount point (express sets it). */
  originalUrl?: string;
}

/**
 * Serves functions from express: `app.use("/api/inngest", serveExpress({ client, functions }))`.
 * Works with or without a body parser: a body already parsed by `express.json()` (or a string /
 * Buffer from `express.text()`/`express.raw()`) is used, otherwise the raw stream is read. Signatures
 * verify on parsed bodies too (JCS form). Unexpected failures go to `next(err)`; protocol failures are
 * answered like `serve()`. Throws InvalidConfigError now if the options are invalid.
 */
export function serveExpress(
  options: ServeOptions,
): (req: ExpressLikeRequest, res: ServerResponse, next: (err?: unknown) => void) => void {
  const handle = createRequestHandler(options, FRAMEWORK);
  return (req, res, next) => {
    const incoming = toIncomingRequest(req, {
      path: req.originalUrl ?? req.url,
      body: () => expressBody(req, options.maxBodyBytes),
    });
    handle(incoming).then(
      (answer) => writeAnswer(res, answer),
      (error: unknown) => next(error),
    );
  };
}

async function expressBody(req: ExpressLikeRequest, maxBodyBytes: number | undefined): Promise<ReceivedBody> {
  // The stream not ended means no body parser consumed it (or it skipped this content type).
  if (!req.readableEnded) return { kind: "raw", text: await readStream(req, maxBodyBytes) };
  if (req.body === undefined) return { kind: "none" };
  if (typeof req.body === "string") return { kind: "raw", text: req.body };
  if (Buffer.isBuffer(req.body)) return { kind: "raw", text: req.body.toString("utf8") };
  return { kind: "parsed", value: req.body };
}
