/**
 * Streaming of durable endpoints (the official SDK v4's `stream.push` / `stream.pipe`, read with
 * `fetchWithStream`): while the app's own request runs the endpoint, it streams to its caller
 * itself; once the run goes async, the SDK tells the caller to read on from here
 * (`inngest.redirect_info`), and each resumed call posts what it streams here.
 *
 * - `POST /v1/realtime/publish/tee?channel=<runId>`: a (possibly long) body of server-sent-event
 *   frames, appended frame by frame to the run's channel in the REALTIME stream as it arrives.
 * - `GET /v1/realtime/sse?token=<stream token>`: the channel from its start, then as it grows, as
 *   `text/event-stream`; it ends after the endpoint's `inngest.response` frame. A run that ends
 *   without one (cancelled, say) gets one made from how it ended, so the reader is never left
 *   waiting. Open to any origin holding the token (CORS `*`), as the output route.
 */
import type { Readable } from "node:stream";
import { publicStatus, type RunContext, statusOf } from "@jetstep/core";
import { type RealtimeChannels, type RunLog, readRun, type SnapshotReader } from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { responseBody, runOfStreamToken } from "./endpoint-api.ts";
import { isRunId } from "./run-id.ts";

export interface RealtimeRouteDeps {
  channels: RealtimeChannels;
  runLog: RunLog;
  snapshots: SnapshotReader;
  signingKey?: string;
  /** At most this many bytes per posted stream (default 64 MiB). */
  maxStreamBytes?: number;
  /** A reader is closed after this long at most (default 15 min); it may read on from the start. */
  maxReadMs?: number;
  /** How long a reader waits between looks at the run while nothing is streamed. */
  idleMs?: number;
}

/** A piece of a frame longer than this is appended as it is (a NATS message has a size limit). */
const MAX_PIECE_CHARS = 256 * 1024;

const RESPONSE_EVENT = "event: inngest.response\n";

export function registerRealtimeRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: any server flavour (the gateway's has a pino logger)
  app: FastifyInstance<any, any, any, any>,
  deps: RealtimeRouteDeps,
): void {
  // The tee's body is read as it arrives, not buffered whole (it may stream for minutes).
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) => done(null, payload));
  teeRoute(app, deps);
  sseRoute(app, deps);
}

// biome-ignore lint/suspicious/noExplicitAny: any server flavour (the gateway's has a pino logger)
type AnyApp = FastifyInstance<any, any, any, any>;

/** `POST /v1/realtime/publish/tee?channel=<runId>`: appends the body to the run's channel, frame by frame. */
function teeRoute(app: AnyApp, deps: RealtimeRouteDeps): void {
  const maxBytes = deps.maxStreamBytes ?? 64 * 1024 * 1024;
  app.post<{ Querystring: { channel?: string } }>("/v1/realtime/publish/tee", async (req, reply) => {
    const channel = req.query.channel;
    if (typeof channel !== "string" || !isRunId(channel))
      return reply.status(400).send({ status: 400, error: "channel: give the run's id as ?channel=" });
    const source: AsyncIterable<Buffer | string> | Iterable<string> =
      typeof req.body === "string" ? [req.body] : ((req.body as Readable | undefined) ?? []);
    const decoder = new TextDecoder();
    let pending = "";
    let total = 0;
    for await (const chunk of source) {
      total += chunk.length;
      if (total > maxBytes) {
        (req.body as Readable).destroy?.();
        return reply.status(413).send({ status: 413, error: `body: at most ${maxBytes} bytes per stream` });
      }
      pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      for (let cut = pending.indexOf("\n\n"); cut !== -1; cut = pending.indexOf("\n\n")) {
        await deps.channels.append(channel, pending.slice(0, cut + 2));
        pending = pending.slice(cut + 2);
      }
      while (pending.length > MAX_PIECE_CHARS) {
        await deps.channels.append(channel, pending.slice(0, MAX_PIECE_CHARS));
        pending = pending.slice(MAX_PIECE_CHARS);
      }
    }
    pending += decoder.decode();
    if (pending !== "") await deps.channels.append(channel, pending);
    return {};
  });
}

/** `GET /v1/realtime/sse?token=<stream token>`: the run's channel as server-sent events, to its end. */
function sseRoute(app: AnyApp, deps: RealtimeRouteDeps): void {
  app.get<{ Querystring: { token?: string } }>("/v1/realtime/sse", async (req, reply) => {
    void reply.header("access-control-allow-origin", "*");
    const runId = runOfStreamToken(
      typeof req.query.token === "string" ? req.query.token : "",
      deps.signingKey,
    );
    if (!runId) return reply.status(401).send({ status: 401, error: "token: not a stream token of a run" });
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "access-control-allow-origin": "*",
    });
    const abort = new AbortController();
    const closed = () => abort.abort();
    req.raw.on("close", closed);
    const limit = setTimeout(closed, deps.maxReadMs ?? 15 * 60_000);
    let responded = false;
    try {
      for await (const read of deps.channels.read(runId, deps.idleMs ?? 1000, abort.signal)) {
        if ("frame" in read) {
          res.write(read.frame);
          if (read.frame.startsWith(RESPONSE_EVENT)) {
            responded = true;
            break;
          }
          continue;
        }
        // Nothing streamed for a while: a run that has ended has said all it will.
        const { snapshot } = await readRun(deps.runLog, deps.snapshots, runId);
        const status = statusOf(snapshot);
        if (status !== "empty" && publicStatus(status, snapshot.context) !== "Running") {
          res.write(responseFrame(publicStatus(status, snapshot.context), snapshot.context));
          responded = true;
          break;
        }
      }
    } catch (err) {
      req.log.warn({ err, runId }, "could not read a run's stream");
    } finally {
      clearTimeout(limit);
      req.raw.off("close", closed);
      if (!responded && !res.writableEnded) req.log.debug({ runId }, "stream reader left before the end");
      res.end();
    }
  });
}

/** The `inngest.response` frame of a run that ended without streaming one. */
function responseFrame(status: string, ctx: RunContext): string {
  const ok = status === "Completed";
  const body = ok
    ? JSON.stringify(responseBody(ctx.output))
    : JSON.stringify(
        status === "Cancelled"
          ? { name: "Cancelled", message: ctx.cancelReason ?? "the run was cancelled" }
          : (ctx.error ?? { name: "Error", message: "the run failed" }),
      );
  const data = {
    status: ok ? "succeeded" : "failed",
    response: { body, statusCode: ok ? 200 : 500, headers: { "content-type": "application/json" } },
  };
  return `${RESPONSE_EVENT}data: ${JSON.stringify(data)}\n\n`;
}
