/**
 * The HTTP server's own guards: time limits for slow clients, the length of path parameters, and
 * error answers that name the rule (413 for a body over its route's limit), so a malformed request
 * gets a 4xx saying what is wrong rather than a 500.
 */
import { MAX_NAME_LENGTH, MaxBodyBytes } from "@jetstep/core";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";

export interface HttpTimeouts {
  /** A whole request (headers and body) must arrive within this, ms; then 408 and the connection closes. */
  requestTimeoutMs: number;
  /** Its headers within this, ms. */
  headersTimeoutMs: number;
}

/**
 * How often the server looks for requests past their time limits, ms. Node's default (30 s) would
 * let a 30 s limit run to a minute.
 */
const TIMEOUT_CHECK_MS = 1000;

/** Ids in paths (events, functions) are up to MAX_NAME_LENGTH characters, 3 each percent-encoded. */
const MAX_PARAM_LENGTH = 3 * MAX_NAME_LENGTH;

/** Fastify options of the gateway's server. */
export function serverOptions(timeouts: HttpTimeouts) {
  return {
    // Routes that take more say so (MaxBodyBytes.events, .large).
    bodyLimit: MaxBodyBytes.api,
    requestTimeout: timeouts.requestTimeoutMs,
    http: {
      // Node wants the headers' limit within the whole request's.
      headersTimeout: Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs),
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A path that is not valid percent-encoding, or a parameter over that length.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const { status, error } = errorAnswer(err, req);
      void reply.status(status).send({ status, error });
    },
  };
}

/** The status and message a request that failed is answered with. */
export function errorAnswer(thrown: unknown, req: FastifyRequest): { status: number; error: string } {
  const err = (thrown instanceof Error ? thrown : new Error(String(thrown))) as Partial<FastifyError> & Error;
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return {
        status: 413,
        error: `body: larger than ${req.routeOptions.bodyLimit} bytes, the limit of ${req.method} ${req.routeOptions.url}`,
      };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, error: "body: its length does not match the Content-Length header" };
    case "FST_ERR_BAD_URL":
      return { status: 400, error: "path: not a valid percent-encoded URL path" };
    case "FST_ERR_MAX_PARAM_LENGTH":
      return { status: 414, error: `path: a parameter is longer than ${MAX_PARAM_LENGTH} characters` };
  }
  const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
  return { status, error: err.message };
}
