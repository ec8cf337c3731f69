/** Reusable HTML snippets and behaviours: badges, JSON blocks, copy buttons, errors, JSON editors. */
import { esc, fmtDuration, fmtJson, parseJson, timeHtml, toMs } from "./util.js";

export function copyButton(text, label = "Copy") {
  return `<button type="button" class="btn-copy" data-copy="${esc(text)}" title="Copy to clipboard" aria-label="${esc(label)}">${esc(label)}</button>`;
}

/** An id (optionally linked) with a copy button. */
export function idHtml(id, href) {
  if (!id) return '<span class="muted">—</span>';
  const text = href
    ? `<a href="${esc(href)}" class="mono">${esc(id)}</a>`
    : `<span class="mono">${esc(id)}</span>`;
  return `<span class="id">${text}${copyButton(id, "Copy")}</span>`;
}

export function jsonBlock(value, { label } = {}) {
  const text = fmtJson(value);
  return `<div class="json-block">
    <div class="json-head">${label ? `<span class="muted">${esc(label)}</span>` : "<span></span>"}${copyButton(text, "Copy JSON")}</div>
    <pre class="json">${esc(text)}</pre>
  </div>`;
}

export function badge(text, { kind = String(text).toLowerCase(), testid } = {}) {
  const t = testid ? ` data-testid="${esc(testid)}"` : "";
  return `<span class="badge badge-${esc(kind)}"${t}>${esc(text)}</span>`;
}

export function apiErrorHtml(err) {
  const msg = err?.message ? err.message : String(err);
  return `<div class="api-error" role="alert" data-testid="api-error">${esc(msg)}</div>`;
}

export function notFoundHtml(what = "Page", detail = "") {
  return `<section class="not-found" data-testid="not-found">
    <h1>404 — ${esc(what)} not found</h1>
    ${detail ? `<p class="muted">${esc(detail)}</p>` : ""}
    <p><a href="#/runs">Back to runs</a></p>
  </section>`;
}

export function errorHtml(error) {
  if (!error) return "";
  const head = `${error.name ?? "Error"}: ${error.message ?? ""}`;
  return `<div class="error-box"><strong>${esc(head)}</strong>${
    error.stack
      ? `<details><summary>Stack</summary><pre class="json">${esc(error.stack)}</pre></details>`
      : ""
  }</div>`;
}

/** Runs-table row; used by the runs list and by event detail. */
export function runRowHtml(r) {
  const start = toMs(r.run_started_at);
  const end = toMs(r.ended_at);
  const dur = start !== null && end !== null ? fmtDuration(end - start) : "";
  return `<tr data-testid="run-row" data-run-id="${esc(r.run_id)}" class="clickable" data-href="#/runs/${esc(encodeURIComponent(r.run_id))}">
    <td class="c-status"${r.stuck_reason ? ` title="${esc(r.stuck_reason)}"` : ""}>${badge(r.status)}</td>
    <td class="c-fn">${esc(r.function_id)}</td>
    <td class="c-id">${idHtml(r.run_id, `#/runs/${encodeURIComponent(r.run_id)}`)}</td>
    <td class="c-event">${r.event_name ? esc(r.event_name) : '<span class="muted">—</span>'}</td>
    <td class="c-started"><span class="c-label muted">Started </span>${timeHtml(r.run_started_at)}</td>
    <td class="c-ended"><span class="c-label muted">Ended </span>${end !== null ? `${timeHtml(r.ended_at)} <span class="muted">(${esc(dur)})</span>` : '<span class="muted">—</span>'}</td>
  </tr>`;
}

export const RUNS_TABLE_HEAD =
  "<thead><tr><th>Status</th><th>Function</th><th>Run ID</th><th>Event</th><th>Started</th><th>Ended</th></tr></thead>";

/**
 * Wires a JSON textarea to an inline error slot. Returns `read()` which validates,
 * shows the error (data-testid="json-error") and yields { ok, value }.
 */
export function jsonEditor(textarea, slot, opts = {}) {
  const check = () => {
    const r = parseJson(textarea.value, opts);
    slot.innerHTML = r.ok
      ? ""
      : `<div class="json-error" role="alert" data-testid="json-error">${esc(r.error)}</div>`;
    textarea.classList.toggle("invalid", !r.ok);
    textarea.setAttribute("aria-invalid", String(!r.ok));
    return r;
  };
  textarea.addEventListener("input", check);
  return check;
}

/** Clicks on any [data-copy] button copy its text; rows with data-href navigate. */
export function installGlobalHandlers() {
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("[data-copy]");
    if (btn) {
      e.preventDefault();
      e.stopPropagation();
      const ok = await copyText(btn.dataset.copy);
      const old = btn.textContent;
      btn.textContent = ok ? "Copied" : "Copy failed";
      btn.classList.add("copied");
      setTimeout(() => {
        btn.textContent = old;
        btn.classList.remove("copied");
      }, 1200);
      return;
    }
    const row = e.target.closest("tr[data-href]");
    if (row && !e.target.closest("a, button, input, select, textarea, summary")) {
      location.hash = row.dataset.href;
    }
  });
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

let toastTimer;
/** Short-lived notification; `html` must already be escaped. */
export function toast(html) {
  let el = document.getElementById("toast");
  if (!el) {
    el = document.createElement("div");
    el.id = "toast";
    el.setAttribute("role", "status");
    document.body.append(el);
  }
  el.innerHTML = html;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 6000);
}
