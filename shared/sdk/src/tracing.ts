/**
 * The SDK's OpenTelemetry hook. Jetstep sends each call with the `traceparent` of the step
 * attempt's span; the SDK runs the function inside that context, so spans the app makes with
 * `@opentelemetry/api` (given an SDK with a context manager, e.g. `@opentelemetry/sdk-node`) are
 * children of the step's span. Events sent from inside a function carry the current context, so
 * the runs they trigger join the trace. Without an OpenTelemetry SDK this costs nothing.
 */
import { randomBytes } from "node:crypto";
import { type Context, context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

const w3c = new W3CTraceContextPropagator();

/** Runs `fn` in the trace context of a call's headers (`traceparent`, `tracestate`). */
export function withCallTrace<T>(header: (name: string) => string | undefined, fn: () => T): T {
  if (!header("traceparent")) return fn();
  const ctx: Context = w3c.extract(ROOT_CONTEXT, header, {
    keys: () => ["traceparent", "tracestate"],
    get: (h, key) => h(key),
  });
  return context.with(ctx, fn);
}

/** `traceparent` (and `tracestate`) of the active span, for outgoing requests; empty without one. */
export function traceHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  w3c.inject(context.active(), headers, {
    set: (carrier, key, value) => {
      carrier[key] = value;
    },
  });
  return headers;
}

/** The trace id of the active span, if any (a call that came with `traceparent`). */
export function activeTraceId(): string | undefined {
  return trace.getSpanContext(context.active())?.traceId;
}

/** A random 8-byte span id, hex. */
export function newSpanId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Runs a step's body as span `spanId` of the active trace (a checkpointed step: Jetstep records
 * the step's span under this id, so spans the body makes are its children).
 */
export function withStepSpan<T>(spanId: string, fn: () => T): T {
  const current = trace.getSpanContext(context.active());
  if (!current) return fn();
  return context.with(trace.setSpanContext(context.active(), { ...current, spanId, isRemote: true }), fn);
}
