/**
 * A run's trace tab: the span tree of `GET /v1/runs/:id/trace` (the run span, and under it one
 * span per step attempt, sleep, wait, invoke and compensation, from the run's log), each with a
 * bar on the run's time axis, and a link to the exported trace when `JETSTEP_TRACE_URL` is set.
 */
import { esc, fmtDuration, toMs } from "../util.js";

const STATUS_CLASS = {
  ok: "completed",
  error: "failed",
  open: "running",
  cancelled: "unfinished",
  "timed out": "backoff",
};

export function traceHtml(t) {
  const spans = t.spans ?? [];
  const run = spans[0];
  if (!run) return '<p class="muted">No spans.</p>';
  const now = Date.now();
  const start = toMs(run.start);
  const endOf = (s) => toMs(s.end) ?? now;
  const last = Math.max(...spans.map(endOf), start + 1);
  const width = last - start;
  const rows = spans.map((s, i) => {
    const st = toMs(s.start);
    const en = endOf(s);
    const left = Math.min(Math.max(((st - start) / width) * 100, 0), 99.4);
    const w = Math.max(Math.min(((en - st) / width) * 100, 100 - left), 0.6);
    const dur = s.duration_ms !== null ? fmtDuration(s.duration_ms) : "open";
    const child = s.child_run_id
      ? ` → <a class="mono" href="#/runs/${esc(encodeURIComponent(s.child_run_id))}">${esc(s.child_run_id)}</a>`
      : "";
    const err = s.error
      ? `<div class="tr-error">${esc(s.error.name ?? "Error")}: ${esc(s.error.message ?? "")}</div>`
      : "";
    const retry = s.retry_at ? ` · retried at ${esc(new Date(s.retry_at).toISOString())}` : "";
    return `<li class="tr-row${i === 0 ? " tr-root" : ""}" data-testid="trace-span" data-kind="${esc(s.kind)}" data-status="${esc(s.status)}">
      <div class="tr-label">
        <span class="tr-name">${esc(s.name)}</span>${s.attempt ? ` <span class="muted">attempt ${esc(s.attempt)}</span>` : ""}
        <span class="muted">${esc(dur)}${esc(s.status === "ok" ? "" : ` · ${s.status}`)}${retry}</span>${child}
      </div>
      <div class="tl-track" aria-hidden="true"><div class="tl-bar tl-${esc(STATUS_CLASS[s.status] ?? "completed")}" style="left:${left.toFixed(3)}%;width:${w.toFixed(3)}%"></div></div>
      ${err}
    </li>`;
  });
  const link = t.url
    ? `<a href="${esc(t.url)}" target="_blank" rel="noopener" data-testid="trace-link">Open the exported trace ↗</a>`
    : '<span class="muted">Set <code>JETSTEP_TRACE_URL</code> (e.g. <code>http://localhost:16686/trace/{traceId}</code>) to link to Jaeger.</span>';
  return `<p class="trace-head">Trace <span class="mono">${esc(t.trace_id)}</span> · ${link}</p>
    <ol class="trace" data-testid="trace-tree">${rows.join("")}</ol>`;
}
