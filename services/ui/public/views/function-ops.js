/**
 * A function page's operations: pause / resume, "Replay failed runs" (statuses and a time range,
 * a preview of how many, then the replay with its progress), and the function's operation log
 * (who did what and when: replays, cancellations, pauses, resumes).
 */
import { api } from "../api.js";
import { apiErrorHtml, toast } from "../components.js";
import { esc, fmtDateTime, timeHtml, toMs } from "../util.js";

const POLL_MS = 500;

/** `datetime-local` value of a time (local, to the second). */
function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function whoHtml(by) {
  const who = by.actor ? esc(by.actor) : "";
  const key =
    by.credential === "none" ? "no key" : `${esc(by.credential)}${by.keyId ? ` ${esc(by.keyId)}` : ""}`;
  return `${who ? `${who} · ` : ""}<span class="muted">${key}${by.ip ? ` · ${esc(by.ip)}` : ""}</span>`;
}

function opSummary(op) {
  const range =
    op.filter?.from || op.filter?.to
      ? ` started ${op.filter.from ? fmtDateTime(op.filter.from) : "…"} – ${op.filter.to ? fmtDateTime(op.filter.to) : "…"}`
      : "";
  if (op.kind === "replay")
    return `Replay of ${esc((op.filter?.statuses ?? []).join(", "))} runs${esc(range)}: ${op.done ?? 0} of ${op.total ?? 0} rerun${op.failed ? `, ${op.failed} failed` : ""}`;
  if (op.kind === "cancel")
    return `Cancelled ${op.total ?? 0} running runs${esc(range)}${op.filter?.if ? ` if ${esc(op.filter.if)}` : ""}`;
  return `${op.kind === "pause" ? "Paused" : "Resumed"}${op.reason ? `: ${esc(op.reason)}` : ""}`;
}

function opRowHtml(op) {
  return `<tr data-testid="operation-row" data-operation-id="${esc(op.id)}" data-kind="${esc(op.kind)}">
    <td>${timeHtml(op.at, { absolute: true })}</td>
    <td>${opSummary(op)}</td>
    <td><span class="badge badge-${op.state === "done" ? "completed" : op.state === "failed" ? "failed" : "running"}">${esc(op.state)}</span></td>
    <td>${whoHtml(op.by)}</td>
  </tr>`;
}

export function opsHtml() {
  return `<div id="fn-paused"></div>
    <div class="actions fn-ops">
      <button type="button" class="btn" data-testid="pause-toggle" hidden></button>
      <button type="button" class="btn" data-testid="replay-open">Replay runs…</button>
    </div>
    <div id="replay-slot"></div>`;
}

export function logHtml() {
  return `<section class="card"><h3>Operations</h3><div id="op-error"></div>
    <div class="table-wrap"><table class="table ops-table"><thead><tr><th>When</th><th>What</th><th>State</th><th>Who</th></tr></thead><tbody id="op-rows"></tbody></table></div>
    <p class="muted" id="op-empty" hidden>No replays, cancellations, pauses or resumes yet.</p></section>`;
}

/** Wires the operations of function `id`; `range()` is the range the charts show ([from, to] ms). */
export function mountOps(root, id, range, signal) {
  const toggle = root.querySelector("[data-testid=pause-toggle]");
  const pausedBox = root.querySelector("#fn-paused");
  const slot = root.querySelector("#replay-slot");
  let paused = null;

  const showPaused = (p) => {
    paused = p;
    toggle.hidden = false;
    toggle.textContent = p ? "Resume" : "Pause";
    toggle.classList.toggle("btn-primary", Boolean(p));
    pausedBox.innerHTML = p
      ? `<div class="banner banner-warn" data-testid="paused-banner">Paused since ${timeHtml(p.at, { absolute: true })} by ${whoHtml(p.by)}${p.reason ? ` — ${esc(p.reason)}` : ""}. New runs are scheduled and wait; they start when it is resumed.</div>`
      : "";
  };

  async function loadState() {
    const res = await api.functions();
    const f = res.data.find((x) => x.id === id);
    if (f && !signal.aborted) showPaused(f.paused);
  }

  async function loadLog() {
    try {
      const res = await api.operations({ function_id: id, limit: 20 });
      const rows = root.querySelector("#op-rows");
      // Left, or replaced by "not found" (an unknown function).
      if (signal.aborted || !rows) return;
      rows.innerHTML = res.data.map(opRowHtml).join("");
      root.querySelector("#op-empty").hidden = res.data.length > 0;
      root.querySelector("#op-error").innerHTML = "";
    } catch (e) {
      const box = root.querySelector("#op-error");
      if (!signal.aborted && box) box.innerHTML = apiErrorHtml(e);
    }
  }

  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    try {
      if (paused) await api.resume(id);
      else await api.pause(id, window.prompt("Why pause it? (optional)") ?? "");
      await loadState();
      await loadLog();
    } catch (e) {
      toast(esc(e.message));
    } finally {
      toggle.disabled = false;
    }
  });

  root.querySelector("[data-testid=replay-open]").addEventListener("click", () => {
    if (slot.innerHTML) {
      slot.innerHTML = "";
      return;
    }
    // Whole seconds in the form: the end is rounded up, so that a run started just now is in range.
    const [from, now] = range();
    const to = Math.ceil((now + 1) / 1000) * 1000;
    slot.innerHTML = `<form class="card stack replay-form" data-testid="replay-form">
      <fieldset class="statuses"><legend>Rerun the runs that</legend>
        <label class="check"><input type="checkbox" name="status" value="Failed" checked> failed</label>
        <label class="check"><input type="checkbox" name="status" value="Cancelled"> were cancelled</label>
      </fieldset>
      <div class="filters">
        <label>Started from <input name="from" type="datetime-local" step="1" value="${localInput(from)}"></label>
        <label>to <input name="to" type="datetime-local" step="1" value="${localInput(to)}"></label>
      </div>
      <div class="actions">
        <button type="button" class="btn" data-testid="replay-preview">Preview</button>
        <button type="submit" class="btn btn-primary" data-testid="replay-submit" disabled>Replay</button>
      </div>
      <div class="replay-result" data-testid="replay-result"></div>
    </form>`;
    const form = slot.querySelector("form");
    const submit = form.querySelector("[data-testid=replay-submit]");
    const result = form.querySelector("[data-testid=replay-result]");
    const body = () => {
      const fd = new FormData(form);
      return {
        function_id: id,
        statuses: fd.getAll("status"),
        from: toMs(String(fd.get("from") ?? "")),
        to: toMs(String(fd.get("to") ?? "")),
      };
    };
    // What is previewed is what is replayed: any change asks for a new preview.
    form.addEventListener("change", () => {
      submit.disabled = true;
      submit.textContent = "Replay";
    });
    form.querySelector("[data-testid=replay-preview]").addEventListener("click", async () => {
      result.innerHTML = "";
      try {
        const res = await api.replay({ ...body(), dry_run: true });
        const n = res.data.count;
        result.innerHTML = `<p data-testid="replay-count">${n} run${n === 1 ? "" : "s"} would be rerun.</p>${res.data.run_ids
          .map((r) => `<a class="mono" href="#/runs/${esc(encodeURIComponent(r))}">${esc(r)}</a>`)
          .join(" ")}`;
        submit.disabled = n === 0;
        submit.textContent = `Replay ${n} run${n === 1 ? "" : "s"}`;
      } catch (e) {
        result.innerHTML = apiErrorHtml(e);
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        const res = await api.replay(body());
        await follow(res.data, result);
      } catch (err) {
        result.innerHTML = apiErrorHtml(err);
      }
    });
  });

  /** Shows a replay's progress until it ends. */
  async function follow(op, box) {
    for (;;) {
      const pct = op.total ? Math.round((100 * ((op.done ?? 0) + (op.failed ?? 0))) / op.total) : 100;
      box.innerHTML = `<div class="progress" data-testid="replay-progress" data-state="${esc(op.state)}">
          <div class="progress-bar" style="width:${pct}%"></div></div>
        <p>${op.done ?? 0} of ${op.total ?? 0} rerun${op.failed ? `, ${op.failed} could not be (${esc(op.error ?? "")})` : ""} · ${esc(op.state)}</p>`;
      if (op.state !== "running" || signal.aborted) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
      op = (await api.operation(op.id)).data;
    }
    await loadLog();
  }

  loadState().catch(() => undefined);
  void loadLog();
}
