/** Waterfall timeline of steps: bars positioned by started_at/ended_at relative to the run start. */
import { badge, errorHtml, jsonBlock } from "../components.js";
import { esc, fmtDuration, timeHtml, toMs } from "../util.js";

const OPEN_STATES = new Set(["backoff", "sleeping", "waiting", "planned", "running"]);

/**
 * @param steps step objects from GET /v1/runs/:id
 * @param t0 run start (ms); tEnd run end or now (ms)
 * @param open Set of step ids whose details are expanded (kept across refreshes)
 * @param runEnd when the run ended (ms), or null while it runs: a step still open then (a wait
 *   the run was cancelled in) is shown unfinished, its bar ending with the run's
 */
export function timelineHtml(steps, t0, tEnd, open, { kind = "step", runEnd = null } = {}) {
  if (!steps || steps.length === 0) return '<p class="muted">No steps recorded yet.</p>';
  const now = runEnd ?? Date.now();
  const starts = steps.map((s) => toMs(s.started_at)).filter((v) => v !== null);
  let base = Math.min(t0 ?? Number.POSITIVE_INFINITY, ...starts);
  if (!Number.isFinite(base)) base = now;
  const ends = steps.map((s) => stepEnd(s, now));
  const last = Math.max(tEnd ?? 0, ...ends.filter((v) => v !== null), base + 1);
  const span = Math.max(last - base, 1);

  const rows = steps.map((s, i) => {
    const st = toMs(s.started_at) ?? base;
    const en = ends[i] ?? st;
    const left = Math.min(Math.max(((st - base) / span) * 100, 0), 99.4);
    const width = Math.max(Math.min(((en - st) / span) * 100, 100 - left), 0.6);
    // Open when the run ended (cancelled while it slept or waited): it never finished.
    const cut = runEnd !== null && OPEN_STATES.has(s.status);
    const status = cut ? "unfinished" : s.status;
    const dur =
      s.duration_ms ??
      (toMs(s.ended_at) !== null ? toMs(s.ended_at) - st : cut && s.started_at ? en - st : null);
    const waitNote = cut ? "The run ended before this step finished" : waitingNote(s);
    const isOpen = open.has(s.id);
    return `<li class="tl-row" data-testid="timeline-${kind === "step" ? "step" : "compensation-step"}" data-step-name="${esc(s.name)}" data-step-id="${esc(s.id)}" data-status="${esc(status)}">
      <div class="tl-label">
        <span class="tl-name" title="${esc(s.id)}">${esc(s.name)}</span>
        ${s.kind ? `<span class="tl-icon" aria-hidden="true" data-testid="step-icon">${KIND_ICONS[s.kind] ?? "•"}</span><span class="tl-kind muted" data-testid="step-kind">${esc(KIND_LABELS[s.kind] ?? s.kind)}</span>` : ""}
        ${badge(status)}
        <span class="muted tl-meta">${attemptsText(s)}${
          dur !== null ? esc(fmtDuration(dur)) : OPEN_STATES.has(status) ? "in progress" : "—"
        }</span>
      </div>
      <div class="tl-track" aria-hidden="true">
        <div class="tl-bar tl-${esc(status)}" style="left:${left.toFixed(3)}%;width:${width.toFixed(3)}%"
             title="${esc(`${s.name}: ${status}${dur !== null ? `, ${fmtDuration(dur)}` : ""}`)}"></div>
      </div>
      ${waitNote ? `<div class="tl-note">${waitNote}</div>` : ""}
      ${outcomeHtml(s)}
      ${s.error ? `<div class="tl-error">${errorHtml(s.error)}</div>` : ""}
      <details class="tl-details" data-step-id="${esc(s.id)}" ${isOpen ? "open" : ""}>
        <summary>Output &amp; details</summary>
        <dl class="kv">
          <dt>Step id</dt><dd class="mono">${esc(s.id)}</dd>
          <dt>Started</dt><dd>${timeHtml(s.started_at, { absolute: true })}</dd>
          <dt>Ended</dt><dd>${timeHtml(s.ended_at, { absolute: true })}</dd>
        </dl>
        ${attemptsHtml(s)}
        ${s.output !== null && s.output !== undefined ? jsonBlock(s.output, { label: "Output" }) : '<p class="muted">No output.</p>'}
      </details>
    </li>`;
  });
  return `<div class="tl-scale muted"><span>0</span><span>${esc(fmtDuration(span))}</span></div><ol class="timeline">${rows.join("")}</ol>`;
}

/** "2 attempts · " for what the app runs; a sleep, a wait or an invoke has none to count. */
function attemptsText(s) {
  const timed = s.kind === "Sleep" || s.kind === "WaitForEvent" || s.kind === "InvokeFunction";
  if (timed && !s.attempts) return "";
  return esc(`${s.attempts ?? 0} attempt${s.attempts === 1 ? "" : "s"} · `);
}

/** One glyph per step kind, before its name (text, so it follows the theme's colours). */
const KIND_ICONS = {
  StepRun: "▶",
  StepPlanned: "◇",
  Sleep: "☾",
  WaitForEvent: "⧗",
  InvokeFunction: "↗",
};

const KIND_LABELS = {
  StepRun: "step.run",
  StepPlanned: "planned",
  Sleep: "sleep",
  WaitForEvent: "waitForEvent",
  InvokeFunction: "invoke",
};

/** How a sleep, a wait or an invoke ended: until when, the matching event, a timeout, the child run. */
function outcomeHtml(s) {
  const o = s.outcome;
  // A sleep under way says so in its waiting note.
  if (!o || o.type === "sleeping") return "";
  let text = "";
  if (o.type === "slept") text = `Slept until ${timeHtml(o.until, { absolute: true })}`;
  else if (o.type === "timed_out")
    text = s.kind === "InvokeFunction" ? "Invoke timed out" : "Timed out: no event matched";
  else if (o.type === "matched")
    text = o.event_id
      ? `Matched event <a href="#/events/${encodeURIComponent(o.event_id)}" class="mono">${esc(o.event_id)}</a>`
      : "Matched an event";
  else if (o.run_id)
    text = `Invoked run <a href="#/runs/${encodeURIComponent(o.run_id)}" class="mono">${esc(o.run_id)}</a> (${esc(o.type)})`;
  else text = `Invoke ${esc(o.type)}`;
  return `<div class="tl-note" data-testid="step-outcome">${text}</div>`;
}

/** Every attempt that errored: when, how long it took, its error, and the backoff that followed. */
function attemptsHtml(s) {
  const list = s.errored_attempts ?? [];
  if (list.length === 0) return "";
  const rows = list.map((a) => {
    const started = toMs(a.started_at);
    const ended = toMs(a.ended_at);
    const next = toMs(a.next_attempt_at);
    const took =
      started !== null && ended !== null
        ? ` <span class="muted">took ${esc(fmtDuration(ended - started))}</span>`
        : "";
    const backoff =
      next !== null
        ? ` <span class="muted" data-testid="attempt-backoff">then ${ended !== null ? `${esc(fmtDuration(next - ended))} of backoff, ` : ""}next attempt ${timeHtml(a.next_attempt_at, { absolute: true })}</span>`
        : "";
    return `<li data-testid="errored-attempt">Attempt ${esc(String(a.attempt + 1))} at ${timeHtml(a.started_at, { absolute: true })}${took}:
        ${errorHtml(a.error)}${backoff}</li>`;
  });
  return `<h4>Errored attempts</h4><ol class="attempts">${rows.join("")}</ol>`;
}

function stepEnd(s, now) {
  const end = toMs(s.ended_at);
  if (end !== null) return end;
  if (s.started_at && OPEN_STATES.has(s.status)) return now;
  return null;
}

function waitingNote(s) {
  if (s.status === "backoff") {
    return s.next_attempt_at
      ? `Retrying after failure — next attempt ${timeHtml(s.next_attempt_at)}`
      : "Retrying after failure";
  }
  if (s.status === "sleeping") {
    return s.next_attempt_at ? `Sleeping until ${timeHtml(s.next_attempt_at)}` : "Sleeping";
  }
  if (s.status === "waiting") return "Waiting for an event";
  if (s.status === "planned") return "Planned — not started yet";
  return "";
}

/** Keeps the set of expanded step ids in sync with the user's toggles. */
export function trackOpen(container, open) {
  container.addEventListener(
    "toggle",
    (e) => {
      const d = e.target;
      if (!(d instanceof HTMLDetailsElement) || !d.dataset.stepId) return;
      if (d.open) open.add(d.dataset.stepId);
      else open.delete(d.dataset.stepId);
    },
    true,
  );
}
