/**
 * OpenTelemetry end to end: `jetstep dev` (a child process, OTEL_* env) and an app using our SDK
 * with `@opentelemetry/sdk-node` both export OTLP/HTTP JSON to a loopback receiver in this test.
 * A 3-step run with a retry must arrive as one trace: the run span, a span per attempt (the failed
 * one with its error), the app's own spans as children of the attempt they ran in, and the
 * sender's traceparent as the run's parent.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Subjects } from "@jetstep/core";
import { connect, headers } from "@nats-io/transport-node";
import {
  freePort,
  type NatsServerHandle,
  type OtlpReceiver,
  spawnTs,
  startNatsServer,
  startOtlpReceiver,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { getRun, sendEvents, spawnJetstep, waitForApp, waitForEventRuns } from "./harness.ts";

const APP = fileURLToPath(new URL("../fixtures/traced-app.ts", import.meta.url));

describe("OpenTelemetry traces", () => {
  let nats: NatsServerHandle;
  let receiver: OtlpReceiver;
  let jetstep: TsProcess;
  let app: TsProcess;
  let url: string;

  before(async () => {
    nats = await startNatsServer();
    receiver = await startOtlpReceiver();
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    const appPort = await freePort();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    app = spawnTs(APP, [], { env: { ...otel, PORT: String(appPort), JETSTEP_BASE_URL: url } });
    await app.waitForLine(/traced app listening/, 30_000);
    jetstep = await spawnJetstep(
      nats.url,
      port,
      ["-u", `http://127.0.0.1:${appPort}/api/inngest`, "--retry-interval", "0.1"],
      otel,
    );
    await withOutput(() => waitForApp(url, "traced-app"))();
  });
  after(async () => {
    await jetstep?.kill("SIGTERM");
    await app?.kill("SIGTERM");
    await nats?.stop();
    receiver?.server.close();
  });

  /** Failures carry both processes' output. */
  const withOutput = (fn: () => Promise<void>) => () =>
    fn().catch((e: Error) => {
      const spans = receiver.spans.map(
        (x) => `${x.service} ${x.traceId}/${x.spanId}<-${x.parentSpanId} ${x.name}`,
      );
      e.message += `\n--- jetstep ---\n${jetstep.output()}\n--- app ---\n${app.output()}\n--- spans ---\n${spans.join("\n")}`;
      throw e;
    });

  it(
    "exports a run as one trace: run span, attempt spans with a retry, app spans under their step",
    withOutput(async () => {
      // The sender's own span: the run joins its trace as a child.
      const senderTrace = "0af7651916cd43dd8448eb211c80319c";
      const senderSpan = "b7ad6b7169203331";
      const res = await fetch(`${url}/e/key`, {
        method: "POST",
        headers: { traceparent: `00-${senderTrace}-${senderSpan}-01` },
        body: JSON.stringify({ name: "trace/go" }),
      });
      assert.equal(res.status, 200);
      const [eventId] = ((await res.json()) as { ids: string[] }).ids;
      const [run] = await waitForEventRuns(url, eventId as string, 1);
      const runId = (run as { run_id: string }).run_id;
      await waitFor(async () => (await getRun(url, runId))?.status === "Completed", { timeoutMs: 30_000 });

      const inTrace = () => receiver.spans.filter((s) => s.traceId === senderTrace);
      // Await every span asserted below: the run span, its five attempt spans and both app spans
      // of flaky. Each process exports in batches on its own schedule, so the run span can arrive
      // before the last attempt's, and Jetstep's before the app's.
      const attemptsOf = (run: { spanId: string }) =>
        inTrace().filter(
          (s) => s.service === "jetstep" && s.parentSpanId === run.spanId && s.name !== "call",
        );
      await waitFor(
        () => {
          const run = inTrace().find((s) => s.name === "run traced-app-traced");
          return (
            run !== undefined &&
            attemptsOf(run).length >= 5 &&
            inTrace().filter((s) => s.service === "traced-app" && s.name === "charge card").length >= 2
          );
        },
        { timeoutMs: 20_000 },
      );
      const spans = inTrace();
      const runSpan = spans.find((s) => s.name === "run traced-app-traced");
      assert.ok(runSpan, "run span");
      assert.equal(runSpan.service, "jetstep");
      assert.equal(runSpan.parentSpanId, senderSpan, "the run is a child of the sender's span");
      assert.deepEqual(
        {
          run: runSpan.attributes["jetstep.run.id"],
          fn: runSpan.attributes["jetstep.function.id"],
          app: runSpan.attributes["jetstep.app.id"],
          status: runSpan.attributes["jetstep.run.status"],
          event: runSpan.attributes["jetstep.event.id"],
        },
        { run: runId, fn: "traced-app-traced", app: "traced-app", status: "Completed", event: eventId },
      );

      // Under the run: one span per step attempt. Steps the app ran in a checkpointing call have
      // spans of their own (that call is then a span named "call"), and a call span ends after the
      // steps it ran: in order of their end.
      const attempts = attemptsOf(runSpan);
      const summary = attempts
        .sort((a, b) => (a.end < b.end ? -1 : 1))
        .map(
          (s) => `${s.name}#${s.attributes["jetstep.step.attempt"]}:${s.attributes["jetstep.step.status"]}`,
        );
      assert.deepEqual(summary, [
        "step first#0:completed",
        "step flaky#0:errored",
        "step flaky#1:completed",
        "step last#0:completed",
        "function#0:completed",
      ]);
      for (const s of attempts) {
        assert.equal(s.attributes["jetstep.run.id"], runId);
        assert.ok(s.start >= runSpan.start && s.end <= runSpan.end, `${s.name} lies within the run span`);
      }
      const failed = attempts.find((s) => s.attributes["jetstep.step.status"] === "errored");
      assert.ok(failed);
      assert.equal(failed.statusCode, 2, "the failed attempt has status ERROR");
      assert.match(String(failed.attributes["jetstep.error.message"]), /card declined/);
      assert.equal(
        failed.attributes["jetstep.step.id"],
        attempts.find((s) => s.name === "step flaky" && s !== failed)?.attributes["jetstep.step.id"],
      );

      // The app's spans are children of the step attempt they ran in.
      const appSpans = spans.filter((s) => s.service === "traced-app" && s.name === "charge card");
      assert.equal(appSpans.length, 2, "one app span per attempt of flaky");
      for (const s of appSpans) {
        const parent = attempts.find((a) => a.spanId === s.parentSpanId);
        assert.ok(parent, "app span's parent is an attempt span");
        assert.equal(parent.name, "step flaky");
        assert.equal(parent.attributes["jetstep.step.attempt"], s.attributes["app.attempt"]);
      }
    }),
  );

  it(
    "a NATS-published event's traceparent header makes its run a child of the sender's span",
    withOutput(async () => {
      const nc = await connect({ servers: nats.url });
      try {
        const h = headers();
        h.set("traceparent", "00-11111111111111111111111111111111-2222222222222222-01");
        const reply = await nc.request(Subjects.ingest, JSON.stringify({ name: "trace/go" }), {
          timeout: 5000,
          headers: h,
        });
        const [eventId] = (JSON.parse(new TextDecoder().decode(reply.data)) as { ids: string[] }).ids;
        const [run] = await waitForEventRuns(url, eventId as string, 1, 30_000);
        assert.equal((run as unknown as { trace_id: string }).trace_id, "11111111111111111111111111111111");
        const runSpan = await waitFor(
          () =>
            receiver.spans.find(
              (s) => s.name === "run traced-app-traced" && s.traceId === "11111111111111111111111111111111",
            ),
          { timeoutMs: 20_000 },
        );
        assert.equal(runSpan.parentSpanId, "2222222222222222");
      } finally {
        await nc.close();
      }
    }),
  );

  it(
    "gives a run without a sender its own trace, with sleep, wait and invoke spans; the invoked run joins it",
    withOutput(async () => {
      const [eventId] = await sendEvents(url, { name: "trace/park" });
      const [run] = await waitForEventRuns(url, eventId as string, 1, 30_000);
      assert.equal(run?.status, "Completed");
      assert.deepEqual(run?.output, { approval: null, doubled: 42 });
      const runId = (run as { run_id: string }).run_id;
      const byRun = (id: string) => receiver.spans.filter((s) => s.attributes["jetstep.run.id"] === id);
      const runSpan = await waitFor(() => byRun(runId).find((s) => s.name === "run traced-app-parked"), {
        timeoutMs: 20_000,
      });
      assert.equal(runSpan.parentSpanId, "", "no sender: the run span is the trace's root");
      assert.equal(
        (run as unknown as { trace_id: string }).trace_id,
        runSpan.traceId,
        "the API names the trace",
      );
      const children = receiver.spans.filter((s) => s.parentSpanId === runSpan.spanId);
      const find = (name: string) => {
        const s = children.find((c) => c.name === name);
        assert.ok(s, `span "${name}" under the run span; got ${children.map((c) => c.name).join(", ")}`);
        return s;
      };
      const nap = find("sleep nap");
      assert.equal(nap.attributes["jetstep.step.op"], "sleep");
      assert.ok(nap.end - nap.start >= 900_000_000n, "the sleep span lasts the sleep");
      const wait = find("waitForEvent trace/approve");
      assert.equal(wait.attributes["jetstep.step.status"], "timed out");
      const invoke = find("invoke traced-app-child");
      assert.equal(invoke.attributes["jetstep.step.status"], "completed");

      // The invoked run is a child of the invoke span, in the same trace.
      const childRun = await waitFor(() => receiver.spans.find((s) => s.name === "run traced-app-child"), {
        timeoutMs: 20_000,
      });
      assert.equal(childRun.traceId, runSpan.traceId);
      assert.equal(childRun.parentSpanId, invoke.spanId);
      assert.ok(
        receiver.spans.some((s) => s.parentSpanId === childRun.spanId && s.name === "step double"),
        "the child's steps hang under the child run",
      );
    }),
  );
});
