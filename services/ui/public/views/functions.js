/** Functions: triggers, flow-control summary, "Invoke" with a JSON payload editor, and a link to each one's page (charts). */
import { api } from "../api.js";
import { apiErrorHtml, jsonBlock, jsonEditor } from "../components.js";
import { navigate } from "../router.js";
import { esc } from "../util.js";
import { presetRunFilters } from "./runs.js";

const FLOW_KEYS = [
  "concurrency",
  "throttle",
  "rateLimit",
  "debounce",
  "priority",
  "batchEvents",
  "cancel",
  "idempotency",
  "singleton",
  "timeouts",
];

export function triggersHtml(triggers = []) {
  if (!triggers.length) return '<span class="muted">No triggers (invoke only)</span>';
  return triggers
    .map((t) => {
      if (t.cron) return `<span class="chip chip-cron" title="cron">⏱ ${esc(t.cron)}</span>`;
      const expr = t.expression ? ` <span class="muted mono">if ${esc(t.expression)}</span>` : "";
      return `<span class="chip">${esc(t.event)}</span>${expr}`;
    })
    .join(" ");
}

function compact(v) {
  if (v === null || typeof v !== "object") return String(v);
  if (Array.isArray(v)) return v.map(compact).join("; ");
  return Object.entries(v)
    .map(([k, x]) => `${k}=${typeof x === "object" && x !== null ? JSON.stringify(x) : x}`)
    .join(", ");
}

export function flowHtml(config = {}) {
  const items = FLOW_KEYS.filter((k) => config[k] !== undefined && config[k] !== null).map(
    (k) =>
      `<li><span class="flow-key">${esc(k)}</span> <span class="mono">${esc(compact(config[k]))}</span></li>`,
  );
  const retries = Object.values(config.steps ?? {})[0]?.retries?.attempts;
  if (retries !== undefined)
    items.push(`<li><span class="flow-key">retries</span> <span class="mono">${esc(retries)}</span></li>`);
  return items.length
    ? `<ul class="flow">${items.join("")}</ul>`
    : '<span class="muted">No flow control</span>';
}

function functionHtml(f) {
  return `<article class="card fn-card" data-testid="function-row" data-function-id="${esc(f.id)}">
    <div class="fn-head">
      <div>
        <h2 class="fn-name"><a href="#/functions/${esc(encodeURIComponent(f.id))}" data-testid="function-link">${esc(f.name ?? f.id)}</a></h2>
        <div class="muted mono">${esc(f.id)} · app ${esc(f.app_id)}</div>
      </div>
      <div class="actions">
        <a class="btn btn-ghost" href="#/runs" data-runs-for="${esc(f.id)}">Runs</a>
        <button type="button" class="btn" data-invoke-open>Invoke</button>
      </div>
    </div>
    <div class="fn-body">
      <div><h3>Triggers</h3>${triggersHtml(f.triggers)}</div>
      <div><h3>Flow control</h3>${flowHtml(f.config)}</div>
    </div>
    <details class="fn-config"><summary>Full config</summary>${jsonBlock(f.config)}</details>
    <div class="invoke-slot"></div>
  </article>`;
}

export function render(root, _params, signal) {
  root.innerHTML = `<div class="page-head"><h1>Functions</h1></div><div id="fn-error"></div><div id="fn-list"><p class="muted">Loading…</p></div>`;
  const list = root.querySelector("#fn-list");

  api
    .functions()
    .then((res) => {
      if (signal.aborted) return;
      list.innerHTML = res.data.length
        ? res.data.map(functionHtml).join("")
        : '<p class="empty muted">No functions registered. Start an app and sync it.</p>';
    })
    .catch((e) => {
      if (!signal.aborted) list.innerHTML = apiErrorHtml(e);
    });

  list.addEventListener("click", (e) => {
    const card = e.target.closest("[data-testid=function-row]");
    if (!card) return;
    if (e.target.closest("[data-invoke-open]")) openInvoke(card);
    if (e.target.closest("[data-runs-for]")) {
      presetRunFilters({ function_id: card.dataset.functionId });
    }
  });

  function openInvoke(card) {
    for (const slot of list.querySelectorAll(".invoke-slot"))
      if (slot !== card.querySelector(".invoke-slot")) slot.innerHTML = "";
    const slot = card.querySelector(".invoke-slot");
    if (slot.innerHTML) {
      slot.innerHTML = "";
      return;
    }
    slot.innerHTML = `<form class="stack invoke-form">
      <label>Event data (JSON)
        <textarea data-testid="invoke-json" rows="6" spellcheck="false">{}</textarea>
      </label>
      <div class="json-slot"></div>
      <div class="actions">
        <button type="submit" class="btn btn-primary" data-testid="invoke-submit">Invoke</button>
        <button type="button" class="btn btn-ghost" data-invoke-cancel>Cancel</button>
      </div>
      <div class="err-slot"></div>
    </form>`;
    const form = slot.querySelector("form");
    const ta = form.querySelector("textarea");
    const read = jsonEditor(ta, form.querySelector(".json-slot"), { allowEmpty: true, emptyValue: {} });
    ta.focus();
    form.querySelector("[data-invoke-cancel]").addEventListener("click", () => {
      slot.innerHTML = "";
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const errSlot = form.querySelector(".err-slot");
      errSlot.innerHTML = "";
      const parsed = read();
      if (!parsed.ok) return;
      const btn = form.querySelector("[data-testid=invoke-submit]");
      btn.disabled = true;
      try {
        const res = await api.invoke(card.dataset.functionId, parsed.value);
        navigate(`/runs/${encodeURIComponent(res.data.run_id)}`);
      } catch (err) {
        errSlot.innerHTML = apiErrorHtml(err);
      } finally {
        btn.disabled = false;
      }
    });
  }
}
