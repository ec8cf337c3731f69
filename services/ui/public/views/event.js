/** Event detail: payload, the runs it started, or why it started none. */
import { api } from "../api.js";
import { apiErrorHtml, idHtml, jsonBlock, notFoundHtml, RUNS_TABLE_HEAD, runRowHtml } from "../components.js";
import { onConnected, subscribe } from "../stream.js";
import { esc, timeHtml } from "../util.js";

const SKIP_HELP = {
  rateLimit: "rate limit reached",
  debounce: "debounced (a later event will run instead)",
  idempotency: "idempotency key already used",
  singleton: "a singleton run was already in progress",
  throttle: "throttled",
  expression: "trigger expression did not match",
  batch: "added to a batch",
};

export function render(root, { id }, signal) {
  root.innerHTML = '<p class="muted">Loading event…</p>';
  let retryTimer = null;
  let tries = 0;

  async function loadEvent() {
    try {
      const res = await api.event(id);
      if (signal.aborted) return;
      const ev = res.data;
      root.innerHTML = `
        <div class="page-head"><h1><a href="#/events" class="muted back">Events</a> / ${esc(ev.name)}</h1></div>
        <section class="card">
          <dl class="kv">
            <dt>Event id</dt><dd>${idHtml(ev.id)}</dd>
            <dt>Name</dt><dd>${esc(ev.name)}</dd>
            <dt>Received</dt><dd>${timeHtml(ev.ts)}</dd>
          </dl>
        </section>
        <div class="grid-2">
          <section class="card"><h2>Payload</h2>${jsonBlock(ev.data, { label: "data" })}
            ${ev.user !== undefined ? jsonBlock(ev.user, { label: "user" }) : ""}
            <details><summary>Full event</summary>${jsonBlock(ev)}</details>
          </section>
          <section class="card"><h2>Runs</h2><div id="event-runs"><p class="muted">Loading runs…</p></div></section>
        </div>`;
      await loadRuns();
    } catch (e) {
      if (signal.aborted) return;
      root.innerHTML = e.status === 404 ? notFoundHtml("Event", `No event with id ${id}.`) : apiErrorHtml(e);
    }
  }

  async function loadRuns() {
    clearTimeout(retryTimer);
    const box = root.querySelector("#event-runs");
    if (!box) return;
    try {
      const res = await api.eventRuns(id);
      if (signal.aborted) return;
      const runs = res.data ?? [];
      const skipped = res.skipped ?? [];
      let html = "";
      if (runs.length) {
        html += `<div class="table-wrap"><table class="table runs-table">${RUNS_TABLE_HEAD}<tbody>${runs
          .map(runRowHtml)
          .join("")}</tbody></table></div>`;
      }
      if (skipped.length) {
        html += `<h3>Skipped</h3><ul class="skipped" data-testid="skipped-list">${skipped
          .map(
            (s) =>
              `<li data-testid="skipped-reason" data-reason="${esc(s.reason)}"><strong>${esc(s.fnId)}</strong>: ${badge(
                s.reason,
              )} <span class="muted">${esc(SKIP_HELP[s.reason] ?? "")}</span></li>`,
          )
          .join("")}</ul>`;
      }
      if (!runs.length && !skipped.length)
        html = '<p class="muted">No function is triggered by this event.</p>';
      box.innerHTML = html;
      // Runs may still be starting or finishing; keep the list fresh for a while.
      if (runs.some((r) => r.status === "Running") && tries++ < 120) retryTimer = setTimeout(loadRuns, 1500);
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 404 && tries++ < 30) {
        box.innerHTML = '<p class="muted">Event not processed yet — waiting…</p>';
        retryTimer = setTimeout(loadRuns, 1000);
        return;
      }
      box.innerHTML = apiErrorHtml(e);
    }
  }

  const unsub = subscribe("run", (m) => {
    if (m.eventId === id) void loadRuns();
  });
  const unsubConnected = onConnected(() => void loadRuns());
  signal.addEventListener("abort", () => {
    unsub();
    unsubConnected();
    clearTimeout(retryTimer);
  });
  void loadEvent();
}

function badge(reason) {
  return `<span class="badge badge-skipped">${esc(reason)}</span>`;
}
