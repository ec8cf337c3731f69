/** Runs list: filters, table, "Load more", live upserts from the SSE stream, and cancelling a function's running runs (previewed). */
import { api } from "../api.js";
import { apiErrorHtml, RUNS_TABLE_HEAD, runRowHtml, toast } from "../components.js";
import { onConnected, subscribe } from "../stream.js";
import { esc, isoOf, toMs } from "../util.js";

const STATUSES = ["Running", "Stuck", "Completed", "Failed", "Cancelled"];

// Filters survive navigation within the session.
const filters = { function_id: "", statuses: [], event_name: "", from: "", to: "" };

/** Lets other views open the runs list pre-filtered (e.g. one function's runs). */
export function presetRunFilters(preset) {
  Object.assign(filters, { function_id: "", statuses: [], event_name: "", from: "", to: "" }, preset);
}

function apiParams(cursor) {
  const p = { limit: 50, cursor };
  if (filters.function_id) p.function_id = filters.function_id;
  if (filters.statuses.length && filters.statuses.length < STATUSES.length)
    p.status = filters.statuses.join(",");
  if (filters.event_name) p.event_name = filters.event_name;
  if (filters.from) p.from = isoOf(filters.from);
  if (filters.to) p.to = isoOf(filters.to);
  return p;
}

/** Does a stream run message match the current filters? */
function matches(run) {
  if (filters.function_id && run.function_id !== filters.function_id) return false;
  if (filters.statuses.length && !filters.statuses.includes(run.status)) return false;
  if (filters.event_name && run.event_name !== filters.event_name) return false;
  const started = toMs(run.run_started_at);
  if (filters.from && started !== null && started < toMs(filters.from)) return false;
  if (filters.to && started !== null && started > toMs(filters.to)) return false;
  return true;
}

/** SSE `run` payload → the /v1/runs row shape. */
export function runFromMessage(m) {
  return {
    run_id: m.runId,
    function_id: m.fnId,
    app_id: m.appId,
    status: m.status,
    event_id: m.eventId ?? null,
    event_name: m.eventName ?? null,
    run_started_at: isoOf(m.startedAt),
    ended_at: m.endedAt ? isoOf(m.endedAt) : null,
    ...(m.stuck ? { stuck_reason: m.stuck.reason } : {}),
  };
}

export function render(root, _params, signal) {
  root.innerHTML = `
    <div class="page-head"><h1>Runs</h1></div>
    <form class="filters" id="run-filters" autocomplete="off">
      <label>Function
        <select name="function_id" data-testid="runs-filter-function"><option value="">All functions</option></select>
      </label>
      <fieldset class="statuses"><legend>Status</legend>
        ${STATUSES.map(
          (s) =>
            `<label class="check"><input type="checkbox" name="status" value="${s}" ${
              filters.statuses.includes(s) ? "checked" : ""
            }> ${s}</label>`,
        ).join("")}
      </fieldset>
      <label>Event name <input name="event_name" type="text" placeholder="e.g. user/signup" value="${esc(filters.event_name)}"></label>
      <label>From <input name="from" type="datetime-local" step="1" value="${esc(filters.from)}"></label>
      <label>To <input name="to" type="datetime-local" step="1" value="${esc(filters.to)}"></label>
      <div class="filter-actions">
        <button type="submit" class="btn">Apply</button>
        <button type="button" class="btn btn-ghost" id="reset-filters">Reset</button>
        <button type="button" class="btn btn-danger" data-testid="cancel-matching" hidden>Cancel running…</button>
      </div>
    </form>
    <div id="cancel-slot"></div>
    <div id="runs-error"></div>
    <div class="table-wrap">
      <table class="table runs-table" id="runs-table">${RUNS_TABLE_HEAD}<tbody></tbody></table>
    </div>
    <p class="empty muted" id="runs-empty" hidden>No runs match these filters.</p>
    <div class="more"><button type="button" class="btn" id="runs-more" hidden>Load more</button></div>`;

  const form = root.querySelector("#run-filters");
  const tbody = root.querySelector("#runs-table tbody");
  const errBox = root.querySelector("#runs-error");
  const moreBtn = root.querySelector("#runs-more");
  const empty = root.querySelector("#runs-empty");
  let cursor = null;
  let loadSeq = 0;

  api
    .functions()
    .then((res) => {
      if (signal.aborted) return;
      const sel = form.elements.function_id;
      for (const f of res.data) {
        const o = new Option(f.name && f.name !== f.id ? `${f.name} (${f.id})` : f.id, f.id);
        sel.append(o);
      }
      sel.value = filters.function_id;
    })
    .catch((e) => {
      if (!signal.aborted) errBox.innerHTML = apiErrorHtml(e);
    });

  const updateEmpty = () => {
    empty.hidden = tbody.children.length > 0;
  };

  async function load(append) {
    const seq = ++loadSeq;
    moreBtn.disabled = true;
    errBox.innerHTML = "";
    try {
      const res = await api.runs(apiParams(append ? cursor : undefined));
      if (signal.aborted || seq !== loadSeq) return;
      if (!append) tbody.innerHTML = "";
      const have = new Set([...tbody.querySelectorAll("tr[data-run-id]")].map((tr) => tr.dataset.runId));
      tbody.insertAdjacentHTML(
        "beforeend",
        res.data
          .filter((r) => !have.has(r.run_id))
          .map(runRowHtml)
          .join(""),
      );
      cursor = res.cursor;
      moreBtn.hidden = !cursor;
    } catch (e) {
      if (!signal.aborted && seq === loadSeq) errBox.innerHTML = apiErrorHtml(e);
    } finally {
      moreBtn.disabled = false;
      updateEmpty();
    }
  }

  function readForm() {
    const fd = new FormData(form);
    filters.function_id = fd.get("function_id") ?? "";
    filters.statuses = fd.getAll("status");
    filters.event_name = String(fd.get("event_name") ?? "").trim();
    filters.from = fd.get("from") ?? "";
    filters.to = fd.get("to") ?? "";
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    readForm();
    void load(false);
  });
  form.addEventListener("change", (e) => {
    if (e.target.name === "event_name") return; // applied on submit / Enter
    readForm();
    void load(false);
  });
  root.querySelector("#reset-filters").addEventListener("click", () => {
    form.reset();
    for (const el of form.querySelectorAll("input[type=text], input[type=datetime-local]")) el.value = "";
    for (const el of form.querySelectorAll("input[type=checkbox]")) el.checked = false;
    form.elements.function_id.value = "";
    readForm();
    void load(false);
  });
  moreBtn.addEventListener("click", () => load(true));

  // Cancel the running runs of the chosen function (in the chosen time range): a preview first.
  const cancelBtn = root.querySelector("[data-testid=cancel-matching]");
  const cancelSlot = root.querySelector("#cancel-slot");
  const showCancel = () => {
    cancelBtn.hidden = !filters.function_id;
    cancelSlot.innerHTML = "";
  };
  form.addEventListener("change", showCancel);
  form.addEventListener("submit", showCancel);
  root.querySelector("#reset-filters").addEventListener("click", showCancel);
  showCancel();
  const cancelBody = () => ({
    function_id: filters.function_id,
    ...(filters.from ? { started_after: isoOf(filters.from) } : {}),
    ...(filters.to ? { started_before: isoOf(filters.to) } : {}),
  });
  cancelBtn.addEventListener("click", async () => {
    try {
      const body = cancelBody();
      const res = await api.cancelMatching({ ...body, dry_run: true });
      const n = res.data.count;
      cancelSlot.innerHTML = `<div class="card" data-testid="cancel-preview">
        <p data-testid="cancel-count">${n} running run${n === 1 ? "" : "s"} of ${esc(body.function_id)}${
          filters.from || filters.to ? " started in the chosen range" : ""
        } would be cancelled.</p>
        <div class="actions">
          <button type="button" class="btn btn-danger" data-testid="cancel-confirm" ${n === 0 ? "disabled" : ""}>Cancel ${n} run${n === 1 ? "" : "s"}</button>
          <button type="button" class="btn btn-ghost" data-cancel-dismiss>Keep them</button>
        </div></div>`;
      cancelSlot.querySelector("[data-cancel-dismiss]").addEventListener("click", () => {
        cancelSlot.innerHTML = "";
      });
      cancelSlot.querySelector("[data-testid=cancel-confirm]").addEventListener("click", async (e) => {
        e.target.disabled = true;
        try {
          const done = await api.cancelMatching(body);
          cancelSlot.innerHTML = "";
          toast(`Cancelling ${esc(done.data.cancelled)} run${done.data.cancelled === 1 ? "" : "s"}`);
          void load(false);
        } catch (err) {
          cancelSlot.innerHTML = apiErrorHtml(err);
        }
      });
    } catch (err) {
      cancelSlot.innerHTML = apiErrorHtml(err);
    }
  });

  const unsub = subscribe("run", (m) => {
    const run = runFromMessage(m);
    if (!run.run_id) return;
    const existing = tbody.querySelector(`tr[data-run-id="${CSS.escape(run.run_id)}"]`);
    if (!matches(run)) {
      // A row that no longer matches (e.g. status filter) is dropped.
      existing?.remove();
      updateEmpty();
      return;
    }
    const tpl = document.createElement("tbody");
    tpl.innerHTML = runRowHtml(run);
    const row = tpl.firstElementChild;
    row.classList.add("flash");
    if (existing) existing.replaceWith(row);
    else tbody.prepend(row);
    updateEmpty();
  });
  const unsubConnected = onConnected(() => void load(false));
  signal.addEventListener("abort", () => {
    unsub();
    unsubConnected();
  });

  void load(false);
}
