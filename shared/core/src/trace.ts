/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) as runs use it. A run's trace and span
 * ids are derived from its run id, so every executor that ever drives the run (after a crash or a
 * handover) parents its spans to the same run span without storing anything beyond the run log.
 */
import { z } from "zod";
import { fnv1a64 } from "./hash.ts";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Trace flags (bit 0: sampled). */
  flags: number;
}

/** Parses a `traceparent` header; undefined when it is not valid (the spec says: ignore it). */
export function parseTraceparent(value: string | undefined | null): TraceParent | undefined {
  const m = TRACEPARENT.exec((value ?? "").trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  // Version ff is invalid; version 00 has no trailing fields; all-zero ids are invalid.
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, "0")}`;
}

/** A valid `traceparent`, normalized to version 00; anything else becomes undefined. */
export function normalizeTraceparent(value: string | undefined | null): string | undefined {
  const p = parseTraceparent(value);
  return p ? formatTraceparent(p) : undefined;
}

export const TraceparentSchema = z.string().refine((v) => parseTraceparent(v) !== undefined, {
  message: "must be a W3C traceparent",
});

const hex64 = (seed: string): string => fnv1a64(seed).toString(16).padStart(16, "0");

/** A non-zero 8-byte span id derived from a seed. */
export function derivedSpanId(seed: string): string {
  const id = hex64(`span:${seed}`);
  return id === "0000000000000000" ? "0000000000000001" : id;
}

/** A non-zero 16-byte trace id derived from a seed. */
export function derivedTraceId(seed: string): string {
  return hex64(`trace-a:${seed}`) + hex64(`trace-b:${seed}`);
}

/** Where a run's spans hang: its trace, its run span, and the span that triggered it (if any). */
export interface RunTrace {
  traceId: string;
  runSpanId: string;
  parentSpanId?: string;
  sampled: boolean;
}

/**
 * The run's trace: the triggering event's trace when it came with a `traceparent` (the run span is
 * a child of the sender's span), otherwise a trace of its own derived from the run id.
 */
export function runTrace(runId: string, traceparent?: string): RunTrace {
  // Asked for on every step of a run (spans, logs): derived once per run, kept for the recent ones.
  const key = traceparent ? `${runId} ${traceparent}` : runId;
  const known = recentTraces.get(key);
  if (known) return known;
  const t = deriveRunTrace(runId, traceparent);
  if (recentTraces.size >= RECENT_TRACES) recentTraces.clear();
  recentTraces.set(key, t);
  return t;
}

const RECENT_TRACES = 10_000;
const recentTraces = new Map<string, RunTrace>();

function deriveRunTrace(runId: string, traceparent?: string): RunTrace {
  const parent = parseTraceparent(traceparent);
  const runSpanId = derivedSpanId(`run:${runId}`);
  if (!parent) return { traceId: derivedTraceId(runId), runSpanId, sampled: true };
  return {
    traceId: parent.traceId,
    runSpanId,
    parentSpanId: parent.spanId,
    sampled: (parent.flags & 1) === 1,
  };
}

/** The `traceparent` that makes a span a child of the run span. */
export function runSpanTraceparent(t: RunTrace): string {
  return formatTraceparent({ traceId: t.traceId, spanId: t.runSpanId, flags: t.sampled ? 1 : 0 });
}
