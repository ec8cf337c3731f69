import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startTracing, tracingConfigured } from "./tracing.ts";

describe("tracingConfigured", () => {
  it("is off unless an OTLP endpoint or an exporter is configured", () => {
    assert.equal(tracingConfigured({}), false);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" }), true);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" }), true);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: "console" }), true);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " }), false);
  });

  it("OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true win over an endpoint", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" };
    assert.equal(tracingConfigured({ ...endpoint, OTEL_TRACES_EXPORTER: "none" }), false);
    assert.equal(tracingConfigured({ ...endpoint, OTEL_SDK_DISABLED: "true" }), false);
  });

  it("startTracing without configuration starts nothing", async () => {
    const t = await startTracing({ serviceName: "x", env: {} });
    assert.equal(t.enabled, false);
    await t.shutdown();
  });
});
