/** Small pure helpers: HTML escaping, time and JSON formatting. */

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes any value for safe use in HTML text or a quoted attribute. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Milliseconds since epoch from a number or ISO string; null when absent or invalid. */
export function toMs(t) {
  if (t === null || t === undefined || t === "") return null;
  if (typeof t === "number") return t;
  const n = Date.parse(t);
  return Number.isNaN(n) ? null : n;
}

export function isoOf(t) {
  const ms = toMs(t);
  return ms === null ? null : new Date(ms).toISOString();
}

/** "3 s ago" / "in 12 s" style relative time. */
export function relative(ms, now = Date.now()) {
  const diff = Math.round((now - ms) / 1000);
  const abs = Math.abs(diff);
  let s;
  if (abs < 60) s = `${abs} s`;
  else if (abs < 3600) s = `${Math.floor(abs / 60)} min`;
  else if (abs < 86400) s = `${Math.floor(abs / 3600)} h`;
  else s = `${Math.floor(abs / 86400)} d`;
  return diff >= 0 ? `${s} ago` : `in ${s}`;
}

/**
 * A <time> element showing relative time, exact ISO time in the tooltip; kept fresh by
 * refreshTimes(). With `absolute`, the local date and time (to the millisecond) come first:
 * "2024-05-01 14:03:09.120 · 3 min ago", for a run's and its steps' times.
 */
export function timeHtml(t, { absolute = false } = {}) {
  const ms = toMs(t);
  if (ms === null) return '<span class="muted">—</span>';
  const iso = new Date(ms).toISOString();
  const abs = absolute ? ` data-abs="${esc(fmtDateTimeMs(ms))}"` : "";
  return `<time datetime="${iso}" title="${iso}" data-ts="${ms}"${abs}>${esc(timeText(ms, absolute ? fmtDateTimeMs(ms) : undefined))}</time>`;
}

const timeText = (ms, abs, now = Date.now()) => (abs ? `${abs} · ${relative(ms, now)}` : relative(ms, now));

/** "2024-05-01 14:03:09.120", local time. */
function fmtDateTimeMs(ms) {
  return `${fmtDateTime(ms)}.${String(new Date(ms).getMilliseconds()).padStart(3, "0")}`;
}

/** Absolute local date and time, "2024-05-01 14:03:09"; "—" when absent. Plain text: escape it. */
export function fmtDateTime(t) {
  const ms = toMs(t);
  if (ms === null) return "—";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll("time[data-ts]")) {
    t.textContent = timeText(Number(t.dataset.ts), t.dataset.abs, now);
  }
}

/** Human duration: 850 ms, 2.4 s, 3 min 5 s. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000);
  const s = Math.round((ms % 60000) / 1000);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function fmtJson(value) {
  if (value === undefined) return "undefined";
  return JSON.stringify(value, null, 2);
}

/** One-line JSON preview, truncated. */
export function preview(value, max = 80) {
  const s = value === undefined ? "" : JSON.stringify(value);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Parses editor text; empty text yields `emptyValue` when allowed. */
export function parseJson(text, { allowEmpty = false, emptyValue = undefined } = {}) {
  if (text.trim() === "") {
    return allowEmpty ? { ok: true, value: emptyValue } : { ok: false, error: "JSON is required" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `Invalid JSON: ${e.message}` };
  }
}
