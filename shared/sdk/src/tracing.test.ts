import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { traceHeaders, withCallTrace } from "./tracing.ts";

/** A synchronous context manager: enough to observe what `withCallTrace` makes active. */
class SyncContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const prev = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = prev;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("SDK trace context", () => {
  before(() => {
    context.setGlobalContextManager(new SyncContextManager());
  });
  after(() => {
    context.disable();
  });

  it("runs the function as a child of the call's traceparent, and sends events with it", () => {
    const headers = new Map([["traceparent", traceparent]]);
    const seen = withCallTrace(
      (n) => headers.get(n),
      () => ({ span: trace.getSpanContext(context.active()), outgoing: traceHeaders() }),
    );
    assert.equal(seen.span?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(seen.span?.spanId, "00f067aa0ba902b7");
    assert.equal(seen.span?.isRemote, true);
    assert.equal(seen.outgoing.traceparent, traceparent);
  });

  it("changes nothing without a traceparent, or with an invalid one", () => {
    assert.equal(
      withCallTrace(
        () => undefined,
        () => trace.getSpanContext(context.active()),
      ),
      undefined,
    );
    assert.equal(
      withCallTrace(
        (n) => (n === "traceparent" ? "00-zz-00-01" : undefined),
        () => trace.getSpanContext(context.active()),
      ),
      undefined,
    );
    assert.deepEqual(traceHeaders(), {});
  });
});
