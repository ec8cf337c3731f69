import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { type RunContext, runTrace, type StepState } from "@jetstep/core";
import { jetstepIdGenerator } from "@jetstep/telemetry";
import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { AttemptSpan, invokeTraceparent, recordParkedStep, recordRun } from "./run-spans.ts";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  idGenerator: jetstepIdGenerator,
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});

const step = (s: Partial<StepState> & { stepId: string; name: string }): StepState => ({
  origin: "discovered",
  status: "completed",
  attempts: 1,
  ...s,
});

const run = (over: Partial<RunContext> = {}): RunContext =>
  ({
    runId: "RUN1",
    fnId: "app-fn",
    appId: "app",
    createdAt: 1_000,
    steps: {
      s1: step({ stepId: "s1", name: "reserve seat" }),
    },
    stepOrder: ["s1"],
    ...over,
  }) as RunContext;

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const only = (): ReadableSpan => {
  const [s] = spans();
  assert.equal(spans().length, 1);
  return s as ReadableSpan;
};

describe("run spans", () => {
  before(() => trace.setGlobalTracerProvider(provider));
  after(() => trace.disable());
  beforeEach(() => exporter.reset());

  it("names a compensation attempt after its step and marks a failed one as an error", () => {
    const ctx = run();
    const a = new AttemptSpan(ctx, { stepId: "s1", attempt: 1, compensate: true }, 2_000);
    a.end(
      { kind: "ops", ops: [] } as never,
      [
        {
          type: "compensation.failed",
          ts: 2_100,
          stepId: "s1",
          error: { name: "Error", message: "refund API down" },
          attempt: 1,
          startedAt: 2_000,
        },
      ],
      2_050,
    );
    const s = only();
    assert.equal(s.name, "compensate reserve seat");
    assert.equal(s.attributes["jetstep.step.status"], "failed");
    assert.equal(s.attributes["jetstep.error.message"], "refund API down");
    assert.equal(s.status.code, 2);
    const t = runTrace("RUN1");
    assert.equal(s.spanContext().traceId, t.traceId);
    assert.equal(s.parentSpanContext?.spanId, t.runSpanId);
    assert.match(a.traceparent, new RegExp(`^00-${t.traceId}-${s.spanContext().spanId}-01$`));
  });

  it("records the run span with the derived ids, as a root without a sender", () => {
    // Times are epoch ms: the OpenTelemetry SDK reads a number below the process uptime
    // (performance.now()) as a performance timestamp, so small values fail once the process ran long.
    const createdAt = Date.UTC(2026, 10, 29, 12);
    const ctx = run({ createdAt, endedAt: createdAt + 5_000, output: 1 });
    recordRun(ctx, "completed", 9_999);
    const s = only();
    const t = runTrace("RUN1");
    assert.equal(s.name, "run app-fn");
    assert.equal(s.spanContext().traceId, t.traceId);
    assert.equal(s.spanContext().spanId, t.runSpanId);
    assert.equal(s.parentSpanContext, undefined);
    assert.equal(s.attributes["jetstep.run.status"], "Completed");
    assert.deepEqual(s.startTime, [createdAt / 1000, 0], "starts when the run was created");
    assert.deepEqual(s.endTime, [createdAt / 1000 + 5, 0], "ends when the run ended");
  });

  it("parents the run span to the sender's span and keeps its trace", () => {
    const sender = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    recordRun(
      run({ traceparent: sender, endedAt: 2_000, error: { name: "Error", message: "boom" } }),
      "failed",
      3_000,
    );
    const s = only();
    assert.equal(s.spanContext().traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(s.parentSpanContext?.spanId, "00f067aa0ba902b7");
    assert.equal(s.status.code, 2);
  });

  it("an invoke span has the id the invoked run's traceparent names", () => {
    const ctx = run();
    const waiting = step({
      stepId: "inv",
      name: "call child",
      status: "waiting",
      startedAt: 1_500,
      wait: {
        event: "inngest/function.finished",
        afterSeq: 1,
        invoke: { functionId: "app-child", data: {}, correlationId: "c1" },
      },
    });
    recordParkedStep(ctx, waiting, { ...waiting, status: "completed", data: 42, endedAt: 1_900 }, 2_000);
    const s = only();
    assert.equal(s.name, "invoke app-child");
    assert.equal(invokeTraceparent(ctx, "inv").split("-")[2], s.spanContext().spanId);
    assert.equal(s.attributes["jetstep.step.status"], "completed");
  });

  it("a wait left open when the run ended is recorded as abandoned", () => {
    const waiting = step({
      stepId: "w",
      name: "approval",
      status: "waiting",
      startedAt: 1_500,
      wait: { event: "x/approve", afterSeq: 1 },
    });
    recordParkedStep(run(), waiting, undefined, 2_000);
    const s = only();
    assert.equal(s.name, "waitForEvent x/approve");
    assert.equal(s.attributes["jetstep.step.status"], "abandoned");
  });
});
