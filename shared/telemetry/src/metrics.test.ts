import assert from "node:assert/strict";
import { createServer } from "node:http";
import { describe, it } from "node:test";
import { GaugeNames, metricsPushConfigured, startMetrics } from "./metrics.ts";

/** The value of the sample `name{labels}` in a Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("metrics", () => {
  it("renders runs, attempts, call failures, events and timer lateness in the Prometheus text format", async () => {
    const m = await startMetrics({ serviceName: "test", env: {} });
    m.run.runStarted("shop-order", "shop");
    m.run.runStarted("shop-order", "shop");
    m.run.stepAttempt("shop-order", "shop", "errored", 30);
    m.run.stepAttempt("shop-order", "shop", "completed", 20);
    m.run.runEnded("shop-order", "shop", "completed", 1500);
    m.run.runEnded("shop-order", "shop", "failed", 200);
    m.run.appCallError("shop-order", "shop", "timeout");
    m.run.eventsReceived("http", 3);
    m.run.eventsReceived("nats", 0);
    m.run.timerFired(12);
    const text = await m.prometheusText();
    const fn = 'function="shop-order",app="shop"';
    assert.equal(sample(text, `jetstep_runs_started_total{${fn}}`), 2);
    assert.equal(sample(text, `jetstep_runs_ended_total{${fn},status="completed"}`), 1);
    assert.equal(sample(text, `jetstep_runs_ended_total{${fn},status="failed"}`), 1);
    assert.equal(sample(text, `jetstep_step_attempts_total{${fn},outcome="errored"}`), 1);
    assert.equal(sample(text, `jetstep_step_attempts_total{${fn},outcome="completed"}`), 1);
    assert.equal(sample(text, `jetstep_app_call_errors_total{${fn},class="timeout"}`), 1);
    assert.equal(sample(text, 'jetstep_events_received_total{source="http"}'), 3);
    assert.equal(sample(text, 'jetstep_events_received_total{source="nats"}'), undefined);
    // Durations in seconds, in the buckets they fall in.
    assert.equal(sample(text, `jetstep_run_duration_seconds_bucket{${fn},status="completed",le="1"}`), 0);
    assert.equal(sample(text, `jetstep_run_duration_seconds_bucket{${fn},status="completed",le="2.5"}`), 1);
    assert.equal(sample(text, `jetstep_run_duration_seconds_sum{${fn},status="completed"}`), 1.5);
    assert.equal(sample(text, `jetstep_step_duration_seconds_count{${fn},outcome="completed"}`), 1);
    assert.equal(sample(text, 'jetstep_timer_lateness_seconds_bucket{le="0.025"}'), 1);
    assert.match(text, /^# TYPE jetstep_runs_started_total counter$/m);
    assert.match(text, /^# TYPE jetstep_step_duration_seconds histogram$/m);
    await m.shutdown();
  });

  it("reads gauges from their sources at each collection; a failing source reports nothing", async () => {
    const m = await startMetrics({ serviceName: "test", env: {} });
    let backlog = 4;
    const drop = m.run.addGauges(() => [
      { name: GaugeNames.partitionBacklog, value: backlog, attributes: { partition: "3" } },
    ]);
    m.run.addGauges(async () => {
      throw new Error("NATS is away");
    });
    assert.equal(sample(await m.prometheusText(), 'jetstep_partition_backlog{partition="3"}'), 4);
    backlog = 0;
    assert.equal(sample(await m.prometheusText(), 'jetstep_partition_backlog{partition="3"}'), 0);
    // A series no source reports leaves the text (it does not repeat its last value).
    drop();
    assert.equal(sample(await m.prometheusText(), 'jetstep_partition_backlog{partition="3"}'), undefined);
    await m.shutdown();
  });

  it("pushes over OTLP only when asked: OTEL_METRICS_EXPORTER=otlp or a metrics endpoint", () => {
    assert.equal(metricsPushConfigured({}), false);
    // A trace collector's endpoint alone (Jaeger takes no metrics) does not turn it on.
    assert.equal(metricsPushConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" }), false);
    assert.equal(metricsPushConfigured({ OTEL_METRICS_EXPORTER: "otlp" }), true);
    assert.equal(metricsPushConfigured({ OTEL_METRICS_EXPORTER: "console, otlp" }), true);
    assert.equal(
      metricsPushConfigured({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://c:4318/v1/metrics" }),
      true,
    );
    assert.equal(
      metricsPushConfigured({ OTEL_METRICS_EXPORTER: "none", OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "x" }),
      false,
    );
    assert.equal(metricsPushConfigured({ OTEL_METRICS_EXPORTER: "otlp", OTEL_SDK_DISABLED: "true" }), false);
  });

  it("pushes the same instruments to an OTLP endpoint (http/json)", async () => {
    const bodies: string[] = [];
    let got: (() => void) | undefined;
    const received = new Promise<void>((r) => {
      got = r;
    });
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        bodies.push(`${req.url} ${body}`);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
        if (body.includes("jetstep.runs.started")) got?.();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    const m = await startMetrics({
      serviceName: "pushed",
      env: {
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${port}/v1/metrics`,
        OTEL_METRIC_EXPORT_INTERVAL: "100",
      },
    });
    try {
      assert.equal(m.pushed, true);
      m.run.runStarted("f", "a");
      await received;
      const pushed = bodies.find((b) => b.includes("jetstep.runs.started")) ?? "";
      assert.match(pushed, /^\/v1\/metrics /);
      assert.match(pushed, /"stringValue":"pushed"/);
    } finally {
      await m.shutdown();
      server.close();
    }
  });
});
