/**
 * Calls a durable endpoint's run once it is async: the endpoint is requested again as its first
 * request was (method, URL, body, content type), with `X-Run-ID` and `X-Inngest-Signature`, which
 * tell the official SDK to resume the run. It then reads the run's steps and events from the REST
 * API (`/v0/runs/:id/actions`, `/v0/runs/:id/batch`) and answers as any call is answered, except
 * that its end is a 206 with one `RunComplete` op (not a list).
 */
import { randomUUID } from "node:crypto";
import { type AppAnswer, type DueCall, parseAppResponse, type RunContext } from "@jetstep/core";
import type { AppClientOptions } from "./app-client.ts";
import { CallTimeoutError, FencedCallError, send } from "./http-send.ts";
import { endpointSignature } from "./signing.ts";

/** The original request, as the run's event (`inngest/http.request`) keeps it. */
interface HttpRequestData {
  method?: unknown;
  body?: unknown;
  content_type?: unknown;
}

export async function callEndpoint(
  ctx: RunContext,
  call: DueCall,
  opts: AppClientOptions,
): Promise<AppAnswer> {
  const url = ctx.url;
  try {
    const target = new URL(url);
    if (target.protocol !== "http:" && target.protocol !== "https:")
      throw new Error(`unsupported URL scheme in ${url}`);
    const data = (ctx.event?.data ?? {}) as HttpRequestData;
    const method = typeof data.method === "string" ? data.method : "POST";
    const withBody = method !== "GET" && method !== "HEAD";
    const body = withBody && typeof data.body === "string" ? data.body : "";
    const requestId = randomUUID();
    const headers: Record<string, string> = {
      "x-run-id": ctx.runId,
      // Present even unsigned: with X-Run-ID it is what marks the request as Jetstep's (dev sends "").
      "x-inngest-signature": opts.signingKey
        ? endpointSignature(method, body, opts.signingKey, opts.now())
        : "",
      "x-request-id": requestId,
      "x-inngest-job-id": `${ctx.runId}:${call.stepId ?? "step"}`,
      "x-inngest-server-kind": opts.serverKind,
      ...(call.stepId ? { "x-inngest-step-id": call.stepId } : {}),
      ...(typeof data.content_type === "string" && data.content_type !== ""
        ? { "content-type": data.content_type }
        : {}),
      ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
    };
    const res = await send(target, body, headers, opts.timeoutMs, opts.fence, method);
    const header = (h: string) => {
      const v = res.headers[h.toLowerCase()];
      return Array.isArray(v) ? v.join(", ") : v;
    };
    return parseAppResponse(
      res.status,
      header,
      res.status === 206 ? asOpList(res.body) : res.body,
      opts.now(),
    );
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof FencedCallError) throw err;
    if (err instanceof CallTimeoutError)
      return {
        kind: "transport",
        message: `endpoint did not answer within ${opts.timeoutMs} ms (${url})`,
        failure: "timeout",
      };
    return {
      kind: "transport",
      message: `could not reach the endpoint at ${url}: ${err.code ?? err.message}`,
      failure: "unreachable",
    };
  }
}

/** A resumed endpoint ends with one op object, where a function's answer has a list. */
function asOpList(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? JSON.stringify([parsed])
      : body;
  } catch {
    return body;
  }
}
