/** Run detail: status, trigger, output/error, step waterfall (or its trace), compensation, and actions. */
import { api } from "../api.js";
import {
  apiErrorHtml,
  badge,
  errorHtml,
  idHtml,
  jsonBlock,
  jsonEditor,
  notFoundHtml,
  toast,
} from "../components.js";
import { navigate } from "../router.js";
import { onConnected, subscribe } from "../stream.js";
import { esc, fmtDuration, timeHtml, toMs } from "../util.js";
import { timelineHtml, trackOpen } from "./timeline.js";
import { traceHtml } from "./trace.js";

export function render(root, { id }, signal) {
  root.innerHTML = '<p class="muted">Loading run…</p>';
  const openSteps = new Set();
  const openComp = new Set();
  let run = null;
  let timer = null;
  let inflight = false;
  let eventLoadedFor = null;
  let stepKey = null;
  let gone = false;
  let tracing = false; // the Trace tab is shown

  /** The run's spans, from its log (drawn again at each refresh while the tab is shown). */
  async function loadTrace() {
    const box = root.querySelector("#run-trace");
    try {
      const res = await api.runTrace(id);
      if (!signal.aborted && box) box.innerHTML = traceHtml(res.data);
    } catch (e) {
      if (!signal.aborted && box) box.innerHTML = apiErrorHtml(e);
    }
  }

  async function refresh() {
    if (inflight || signal.aborted) return;
    inflight = true;
    try {
      const res = await api.run(id);
      if (signal.aborted) return;
      run = res.data;
      if (!root.querySelector("#run-view")) mount();
      update();
      root.querySelector("#run-refresh-error").innerHTML = "";
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 404 && !run) {
        root.innerHTML = notFoundHtml("Run", `No run with id ${id}.`);
        gone = true;
        return;
      }
      const slot = root.querySelector("#run-refresh-error");
      if (slot) slot.innerHTML = apiErrorHtml(e);
      else root.innerHTML = apiErrorHtml(e);
    } finally {
      inflight = false;
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (signal.aborted || gone) return;
    if (!run || run.status === "Running" || run.status === "Stuck" || isCompensating(run))
      timer = setTimeout(refresh, 1000);
  }
  /** Static skeleton: rendered once so form state (rerun editor) survives refreshes. */
  function mount() {
    root.innerHTML = `<div id="run-view">
      <div class="page-head">
        <h1><a href="#/runs" class="muted back">Runs</a> / <span id="run-fn"></span></h1>
        <div id="run-badges" class="badges"></div>
      </div>
      <div id="run-refresh-error"></div>
      <section class="card">
        <dl class="kv" id="run-meta"></dl>
        <div class="actions">
          <button type="button" class="btn btn-danger" data-testid="cancel-run" id="cancel-run">Cancel run</button>
          <button type="button" class="btn" data-testid="rerun" id="rerun">Rerun</button>
        </div>
        <div id="action-error"></div>
      </section>
      <div class="grid-2">
        <section class="card"><h2>Result</h2><div id="run-result"></div></section>
        <section class="card"><h2>Triggering event</h2><div id="run-event"></div></section>
      </div>
      <section class="card">
        <div class="tabs" role="tablist">
          <button type="button" class="btn btn-ghost active" role="tab" data-tab="steps" aria-selected="true">Steps</button>
          <button type="button" class="btn btn-ghost" role="tab" data-tab="trace" data-testid="trace-tab" aria-selected="false">Trace</button>
        </div>
        <div id="run-steps"></div>
        <div id="run-trace" hidden></div>
      </section>
      <section class="card" id="comp-card" hidden><h2>Compensation</h2><div id="run-comp"></div></section>
      <section class="card">
        <h2>Rerun from step</h2>
        <form id="rerun-step-form" class="stack">
          <label>Step
            <select data-testid="rerun-from-step-select" id="rerun-step" required></select>
          </label>
          <label>Replace that step's output (optional JSON — leave empty to re-execute the step)
            <textarea data-testid="rerun-from-step-output" id="rerun-output" rows="5" spellcheck="false" placeholder='{"example": true}'></textarea>
          </label>
          <div id="rerun-json-error"></div>
          <div><button type="submit" class="btn" data-testid="rerun-from-step-submit">Rerun from step</button></div>
          <div id="rerun-step-error"></div>
        </form>
      </section>
    </div>`;

    for (const tab of root.querySelectorAll("[data-tab]"))
      tab.addEventListener("click", () => {
        tracing = tab.dataset.tab === "trace";
        for (const t of root.querySelectorAll("[data-tab]")) {
          t.classList.toggle("active", t === tab);
          t.setAttribute("aria-selected", String(t === tab));
        }
        root.querySelector("#run-steps").hidden = tracing;
        root.querySelector("#run-trace").hidden = !tracing;
        if (tracing) void loadTrace();
      });
    trackOpen(root.querySelector("#run-steps"), openSteps);
    trackOpen(root.querySelector("#run-comp"), openComp);

    root.querySelector("#cancel-run").addEventListener("click", onCancel);
    root
      .querySelector("#rerun")
      .addEventListener("click", () => doRerun({}, root.querySelector("#action-error")));
    const readOutput = jsonEditor(
      root.querySelector("#rerun-output"),
      root.querySelector("#rerun-json-error"),
      {
        allowEmpty: true,
      },
    );
    root.querySelector("#rerun-step-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const errSlot = root.querySelector("#rerun-step-error");
      errSlot.innerHTML = "";
      const parsed = readOutput();
      if (!parsed.ok) return; // shown inline, never sent
      const fromStep = root.querySelector("#rerun-step").value;
      if (!fromStep) {
        errSlot.innerHTML = apiErrorHtml(new Error("Pick a step to rerun from"));
        return;
      }
      const body = { fromStep };
      if (parsed.value !== undefined) body.output = parsed.value;
      void doRerun(body, errSlot);
    });
  }

  async function onCancel() {
    if (!window.confirm(`Cancel run ${id}?`)) return;
    const slot = root.querySelector("#action-error");
    slot.innerHTML = "";
    const btn = root.querySelector("#cancel-run");
    btn.disabled = true;
    try {
      await api.cancelRun(id, "cancelled from the UI");
      toast("Run cancelled");
    } catch (e) {
      slot.innerHTML = apiErrorHtml(e);
    } finally {
      btn.disabled = false;
      await refresh();
    }
  }

  async function doRerun(body, slot) {
    slot.innerHTML = "";
    try {
      const res = await api.rerun(id, body);
      toast(`Rerun started: <span class="mono">${esc(res.data.run_id)}</span>`);
      navigate(`/runs/${encodeURIComponent(res.data.run_id)}`);
    } catch (e) {
      slot.innerHTML = apiErrorHtml(e);
    }
  }

  function update() {
    const r = run;
    const start = toMs(r.run_started_at);
    const end = toMs(r.ended_at);
    root.querySelector("#run-fn").textContent = r.function_id;
    // The phase only where it says more than the status (sleeping, compensated…), never "Completed completed".
    const phase = r.phase && r.phase !== String(r.status).toLowerCase() ? r.phase : "";
    root.querySelector("#run-badges").innerHTML = `${badge(r.status, { testid: "run-status" })} ${
      phase ? badge(phase, { kind: `phase-${phase}`, testid: "run-phase" }) : ""
    }`;
    root.querySelector("#run-meta").innerHTML = `
      <dt>Run id</dt><dd>${idHtml(r.run_id)}</dd>
      <dt>Function</dt><dd><a href="#/functions/${esc(encodeURIComponent(r.function_id))}" data-testid="run-function-link">${esc(r.function_id)}</a> <span class="muted">(${esc(r.app_id)})</span></dd>
      <dt>Started</dt><dd data-testid="run-started">${timeHtml(r.run_started_at, { absolute: true })}</dd>
      <dt>Ended</dt><dd>${timeHtml(r.ended_at, { absolute: true })}</dd>
      <dt>Duration</dt><dd data-testid="run-duration">${start !== null ? esc(fmtDuration((end ?? Date.now()) - start)) : "—"}${end === null ? ' <span class="muted">(so far)</span>' : ""}</dd>
      ${r.trace_id ? `<dt>Trace</dt><dd data-testid="run-trace-id" title="OpenTelemetry trace id: search it in Jaeger">${idHtml(r.trace_id)}</dd>` : ""}
      ${r.stuck ? `<dt>Stuck</dt><dd data-testid="run-stuck">${esc(r.stuck.reason)}${r.stuck.since ? ` <span class="muted">(failing since ${timeHtml(r.stuck.since)}; still retried)</span>` : ""}</dd>` : ""}
      ${r.invoked_by ? `<dt>Invoked by</dt><dd data-testid="run-invoked-by">${idHtml(r.invoked_by.run_id, `#/runs/${encodeURIComponent(r.invoked_by.run_id)}`)}${r.invoked_by.function_id ? ` <span class="muted">(${esc(r.invoked_by.function_id)})</span>` : ""}</dd>` : ""}
      ${r.cancel_reason ? `<dt>Cancel reason</dt><dd>${esc(r.cancel_reason)}</dd>` : ""}
      ${r.rerun_of ? `<dt>Rerun of</dt><dd data-testid="run-rerun-of">${idHtml(r.rerun_of, `#/runs/${encodeURIComponent(r.rerun_of)}`)}</dd>` : ""}
      ${r.reruns?.length ? `<dt>Reruns</dt><dd data-testid="run-reruns">${r.reruns.map((x) => idHtml(x.run_id, `#/runs/${encodeURIComponent(x.run_id)}`)).join(" ")}</dd>` : ""}`;

    const cancelBtn = root.querySelector("#cancel-run");
    cancelBtn.hidden = r.status !== "Running" && r.status !== "Stuck";

    const result = root.querySelector("#run-result");
    if (r.error) result.innerHTML = errorHtml(r.error);
    else if (r.status === "Running" || r.status === "Stuck")
      result.innerHTML = '<p class="muted">Still running…</p>';
    else if (r.output !== undefined && r.output !== null)
      result.innerHTML = jsonBlock(r.output, { label: "Output" });
    else
      result.innerHTML = `<p class="muted">${r.status === "Cancelled" ? "Cancelled — no output." : "No output (null)."}</p>`;
    // Scores and other metadata written on the run or its steps (`POST /v1/runs/:id/metadata`).
    if (
      r.metadata &&
      (Object.keys(r.metadata.run ?? {}).length || Object.keys(r.metadata.steps ?? {}).length)
    ) {
      const names = Object.fromEntries((r.steps ?? []).map((s) => [s.id, s.name]));
      const steps = Object.fromEntries(
        Object.entries(r.metadata.steps ?? {}).map(([id, m]) => [names[id] ?? id, m]),
      );
      result.insertAdjacentHTML(
        "beforeend",
        `<div data-testid="run-metadata">${jsonBlock({ run: r.metadata.run, steps }, { label: "Metadata" })}</div>`,
      );
    }

    // `defer()`s: sent as their own runs once this run ends (unless aborted or refused).
    if (r.defers?.length) {
      const rows = r.defers
        .map(
          (d) => `<tr>
            <td>${esc(d.name)}</td>
            <td class="mono">${esc(d.function_id)}</td>
            <td>${badge(d.status)}</td>
            <td class="muted">${d.reason ? esc(d.reason) : ""}</td>
          </tr>`,
        )
        .join("");
      result.insertAdjacentHTML(
        "beforeend",
        `<div data-testid="run-defers"><h3>Deferred runs</h3><div class="table-wrap"><table class="table">
          <thead><tr><th>Defer</th><th>Function</th><th>Status</th><th></th></tr></thead>
          <tbody>${rows}</tbody></table></div></div>`,
      );
    }

    if (tracing) void loadTrace();
    root.querySelector("#run-steps").innerHTML = timelineHtml(r.steps, start, end ?? Date.now(), openSteps, {
      runEnd: end,
    });

    const compCard = root.querySelector("#comp-card");
    if (r.compensation) {
      compCard.hidden = false;
      const c = r.compensation;
      root.querySelector("#run-comp").innerHTML = `<p>${badge(c.status, { testid: "compensation-status" })} ${
        c.reason
          ? `<span class="muted">${esc(typeof c.reason === "string" ? c.reason : JSON.stringify(c.reason))}</span>`
          : ""
      }</p>${timelineHtml(c.steps, start, end ?? Date.now(), openComp, { kind: "compensation", runEnd: end })}`;
    } else compCard.hidden = true;

    // Rebuild the step picker only when the finished steps change, keeping the selection.
    const finished = (r.steps ?? []).filter((s) => s.status === "completed" || s.status === "failed");
    const key = finished.map((s) => `${s.id}:${s.status}`).join("|");
    if (key !== stepKey) {
      stepKey = key;
      const sel = root.querySelector("#rerun-step");
      const prev = sel.value;
      sel.innerHTML = finished.length
        ? finished
            .map(
              (s) =>
                `<option value="${esc(s.id)}">${esc(s.name)}${s.status === "failed" ? " (failed)" : ""}</option>`,
            )
            .join("")
        : '<option value="">(no finished steps yet)</option>';
      if (prev && [...sel.options].some((o) => o.value === prev)) sel.value = prev;
    }

    if (r.event_id && eventLoadedFor !== r.event_id) void loadEvent(r.event_id);
    if (!r.event_id)
      root.querySelector("#run-event").innerHTML = '<p class="muted">No triggering event (e.g. cron).</p>';
  }

  async function loadEvent(eventId) {
    eventLoadedFor = eventId;
    const box = root.querySelector("#run-event");
    box.innerHTML = `<p>${idHtml(eventId, `#/events/${encodeURIComponent(eventId)}`)}</p><p class="muted">Loading payload…</p>`;
    try {
      const res = await api.event(eventId);
      if (signal.aborted) return;
      const ev = res.data;
      box.innerHTML = `<p><a href="#/events/${esc(encodeURIComponent(eventId))}">${esc(ev.name)}</a> · ${timeHtml(ev.ts)}</p>
        <p>${idHtml(eventId, `#/events/${encodeURIComponent(eventId)}`)}</p>
        ${jsonBlock(ev.data, { label: "Payload (data)" })}`;
    } catch (e) {
      if (signal.aborted) return;
      box.innerHTML = `<p>${idHtml(eventId, `#/events/${encodeURIComponent(eventId)}`)}</p>${apiErrorHtml(e)}`;
    }
  }

  const unsub = subscribe("run", (m) => {
    if (m.runId === id) void refresh();
  });
  const unsubConnected = onConnected(() => void refresh());
  signal.addEventListener("abort", () => {
    unsub();
    unsubConnected();
    clearTimeout(timer);
  });
  void refresh();
}

function isCompensating(r) {
  return r.phase === "compensating";
}
