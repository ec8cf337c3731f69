/**
 * Calls an app per the Inngest protocol (PROTOCOL.md "Call"): POST the function URL with the
 * event, the memo and the context; classify the answer. Network failures and timeouts become
 * `transport` answers that say what happened, so the run's error tells the user what the app did.
 */
import { type AppAnswer, type DueCall, memoOf, parseAppResponse, type RunContext, stackOf } from "@jetstep/core";

export interface AppClientOptions {
  timeoutMs: number;
  now: () => number;
  serverKind: "dev" | "cloud";
}

export function callUrl(base: string, call: DueCall): string {
  const url = new URL(base);
  url.searchParams.set("stepId", call.stepId ?? "step");
  return url.toString();
}

export function callBody(ctx: RunContext, call: DueCall): unknown {
  const stack = stackOf(ctx);
  return {
    event: ctx.event,
    events: ctx.events,
    steps: memoOf(ctx),
    ctx: {
      run_id: ctx.runId,
      attempt: call.attempt,
      max_attempts: ctx.maxAttempts,
      stack: { stack, current: stack.length },
      disable_immediate_execution: false,
      use_api: false,
      env: "dev",
      ...(call.stepId ? { step_id: call.stepId } : {}),
    },
    version: 2,
  };
}

export async function callApp(ctx: RunContext, call: DueCall, opts: AppClientOptions): Promise<AppAnswer> {
  const url = callUrl(ctx.url, call);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-inngest-server-kind": opts.serverKind },
      body: JSON.stringify(callBody(ctx, call)),
      signal: controller.signal,
    });
    const text = await res.text();
    return parseAppResponse(res.status, (h) => res.headers.get(h), text, opts.now());
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === "AbortError") return { kind: "transport", message: `app did not answer within ${opts.timeoutMs} ms (${url})` };
    const why = err.cause?.code ?? err.cause?.message ?? err.message;
    return { kind: "transport", message: `could not reach the app at ${url}: ${why}` };
  } finally {
    clearTimeout(timer);
  }
}
