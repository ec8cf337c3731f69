/**
 * `GET /v1/runs/:id/trace`: the run's trace as its log tells it (core's trace-spans.ts), for the
 * UI's trace tab: the run span and, under it, one span per step attempt, sleep, wait, invoke and
 * compensation, with the trace id and, when `traceUrl` is set (`JETSTEP_TRACE_URL`, e.g.
 * `http://localhost:16686/trace/{traceId}` for Jaeger), a link to the exported trace.
 */
import { runTraceView, statusOf, type TraceSpan } from "@jetstep/core";
import { type RunLog, readRun, type SnapshotReader } from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { isRunId } from "./run-id.ts";

export interface TraceRouteDeps {
  runLog: RunLog;
  snapshots: SnapshotReader;
  /** A URL with `{traceId}` where the exported trace can be seen. */
  traceUrl?: string;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

function spanJson(s: TraceSpan) {
  return {
    name: s.name,
    kind: s.kind,
    start: iso(s.start),
    end: iso(s.end),
    duration_ms: s.end === undefined ? null : s.end - s.start,
    status: s.status,
    step_id: s.stepId ?? null,
    attempt: s.attempt ?? null,
    error: s.error ?? null,
    retry_at: iso(s.retryAt),
    child_run_id: s.childRunId ?? null,
  };
}

export function registerTraceRoute(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: TraceRouteDeps,
): void {
  app.get<{ Params: { id: string } }>("/v1/runs/:id/trace", async (req, reply) => {
    const id = req.params.id;
    if (!isRunId(id)) return reply.status(404).send({ error: `run ${id} not found` });
    const { snapshot } = await readRun(deps.runLog, deps.snapshots, id);
    if (statusOf(snapshot) === "empty") return reply.status(404).send({ error: `run ${id} not found` });
    const view = runTraceView(snapshot.context);
    return {
      data: {
        trace_id: view.traceId,
        run_span_id: view.runSpanId,
        url: deps.traceUrl ? deps.traceUrl.replaceAll("{traceId}", view.traceId) : null,
        spans: view.spans.map(spanJson),
      },
    };
  });
}
