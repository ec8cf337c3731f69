/**
 * Calls an app per the Inngest protocol (docs/PROTOCOL.md, "Call body"): POST the function URL with the
 * event, the memo and the context; classify the answer. Network failures and timeouts become
 * `transport` answers that say what happened, so the run's error tells the user what the app did.
 * Functions of NATS workers (`nats://<appId>?fnId=…`) get the same call over NATS
 * (`nats-app-client.ts`).
 */
import { randomUUID } from "node:crypto";
import {
  type AppAnswer,
  CALL_SIGNATURE_HEADER,
  type DueCall,
  defersOf,
  memoOf,
  parseAppResponse,
  type RunContext,
  stackOf,
} from "@jetstep/core";
import type { Nats } from "@jetstep/jetstream";
import { callEndpoint } from "./endpoint-client.ts";
import { CallTimeoutError, FencedCallError, send } from "./http-send.ts";
import { callWorker } from "./nats-app-client.ts";
import { signedBody } from "./signing.ts";

export { FencedCallError } from "./http-send.ts";

export interface AppClientOptions {
  timeoutMs: number;
  now: () => number;
  serverKind: "dev" | "cloud";
  /** Signs every call (`X-Inngest-Signature`) when set. */
  signingKey?: string;
  /** W3C trace context of the step attempt's span, sent as `traceparent`. */
  traceparent?: string;
  /** The executor's NATS connection, for `nats://` app URLs (NATS workers). */
  nats?: Nats;
  /**
   * A discovery call's dispatch id, sent as `ctx.qi_id` with `ctx.fn_id`: the app may then run
   * consecutive steps in this one call and report each by checkpoint under this id.
   */
  dispatchId?: string;
  /** NATS workers: silent heartbeats before a call counts as lost (default 3). */
  heartbeatMisses?: number;
  /**
   * Checked right before the call leaves (for HTTP, once the request has its connection: it may
   * wait for one); when false the call is not sent and `callApp` rejects with FencedCallError.
   */
  fence?: () => boolean;
}

export function callUrl(base: string, call: DueCall): string {
  const url = new URL(base);
  if (call.compensate) {
    url.searchParams.set("stepId", "step");
    url.searchParams.set("compensate", call.stepId ?? "");
  } else url.searchParams.set("stepId", call.stepId ?? "step");
  return url.toString();
}

/**
 * The JSON body of a call. `ctx.request_id` is new for every call, so no two calls are signed
 * alike: an app that remembers the signatures it saw (ours does) refuses a replayed one.
 */
export function callBody(
  ctx: RunContext,
  call: DueCall,
  dispatchId?: string,
  requestId: string = randomUUID(),
): unknown {
  const stack = stackOf(ctx);
  return {
    event: ctx.event,
    events: ctx.events,
    steps: memoOf(ctx),
    ...(ctx.defers ? { defers: defersOf(ctx) } : {}),
    ctx: {
      run_id: ctx.runId,
      ...(dispatchId ? { fn_id: ctx.fnId, qi_id: dispatchId } : {}),
      attempt: call.attempt,
      max_attempts: ctx.maxAttempts,
      stack: { stack, current: stack.length },
      disable_immediate_execution: false,
      use_api: false,
      env: "dev",
      ...(call.stepId ? { step_id: call.stepId } : {}),
      request_id: requestId,
    },
    // -1 until the SDK said which version it runs the function with (`run.versioned`).
    version: ctx.reqVersion ?? -1,
  };
}

export async function callApp(ctx: RunContext, call: DueCall, opts: AppClientOptions): Promise<AppAnswer> {
  if (ctx.endpoint) return callEndpoint(ctx, call, opts);
  const url = callUrl(ctx.url, call);
  try {
    const target = new URL(url);
    const requestId = randomUUID();
    const body = signedBody(
      callBody(ctx, call, opts.dispatchId, requestId),
      opts.signingKey,
      opts.now(),
      target,
    );
    const headers: Record<string, string> = {
      "content-type": "application/json",
      // What the official SDK reads as `ctx.requestId`.
      "x-request-id": requestId,
      // And as `ctx.jobId`, "stable for this invocation": the run's step, the same across its
      // attempts (as a queue item's id), while the request id is new on every call.
      "x-inngest-job-id": `${ctx.runId}:${call.compensate ? "compensate:" : ""}${call.stepId ?? "step"}`,
      "x-inngest-server-kind": opts.serverKind,
      ...(body.signature ? { "x-inngest-signature": body.signature } : {}),
      ...(body.callSignature ? { [CALL_SIGNATURE_HEADER]: body.callSignature } : {}),
      ...(opts.traceparent ? { traceparent: opts.traceparent } : {}),
    };
    if (target.protocol === "nats:") {
      if (!opts.nats)
        return { kind: "transport", message: `no NATS connection to call ${url}`, failure: "unreachable" };
      if (opts.fence && !opts.fence()) throw new FencedCallError();
      return await callWorker(target, body.text, headers, {
        nats: opts.nats,
        timeoutMs: opts.timeoutMs,
        now: opts.now,
        ...(opts.heartbeatMisses !== undefined ? { heartbeatMisses: opts.heartbeatMisses } : {}),
      });
    }
    if (target.protocol !== "http:" && target.protocol !== "https:")
      throw new Error(`unsupported URL scheme in ${url}`);
    const res = await send(target, body.text, headers, opts.timeoutMs, opts.fence);
    const header = (h: string) => {
      const v = res.headers[h.toLowerCase()];
      return Array.isArray(v) ? v.join(", ") : v;
    };
    return parseAppResponse(res.status, header, res.body, opts.now());
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof FencedCallError) throw err;
    if (err instanceof CallTimeoutError)
      return {
        kind: "transport",
        message: `app did not answer within ${opts.timeoutMs} ms (${url})`,
        failure: "timeout",
      };
    return {
      kind: "transport",
      message: `could not reach the app at ${url}: ${err.code ?? err.message}`,
      failure: "unreachable",
    };
  }
}
