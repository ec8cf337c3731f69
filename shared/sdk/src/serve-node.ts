import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequestHandler, type ServeOptions } from "./comm-handler.ts";
import { toIncomingRequest, writeAnswer } from "./node-io.ts";

const FRAMEWORK = "nodejs";

/**
 * Serves functions from a node:http server: returns a request listener for the app's endpoint
 * (route one path to it, e.g. `/api/inngest`). GET introspects, PUT syncs with the gateway, POST runs
 * a function call. The listener never throws; failures are answered (400 malformed call, 401 bad
 * signature when a signing key is set, 413 oversized body, 500 otherwise).
 * Throws InvalidConfigError now if the options are invalid.
 */
export function serve(options: ServeOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = createRequestHandler(options, FRAMEWORK);
  return (req, res) => {
    void handle(toIncomingRequest(req, { maxBodyBytes: options.maxBodyBytes })).then((answer) =>
      writeAnswer(res, answer),
    );
  };
}
