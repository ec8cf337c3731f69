/**
 * Dead letters: what Jetstep took but could not process, newest first, with the reason; a source
 * filter, "Load more", and each letter's payload (untrusted: always escaped) one click away.
 */
import { api } from "../api.js";
import { apiErrorHtml, badge, copyButton } from "../components.js";
import { esc, fmtDateTime, fmtJson, timeHtml } from "../util.js";

const SOURCES = ["ingest", "matcher", "executor"];
const COLUMNS = 7;

// The filter survives navigation within the session, like the other lists'.
const filters = { source: "" };

const DASH = '<span class="muted">—</span>';

const EXPLAIN =
  "Dead letters are messages Jetstep took but could not process, kept with the reason for 30 days: " +
  "publishes to <code>jetstep.events…</code> over NATS that were refused (<em>ingest</em>), and events " +
  "(<em>matcher</em>) or run commands (<em>executor</em>) that failed the same way 3 times.";

const utf8Bytes = (s) => new TextEncoder().encode(s).length;

/** The payload pretty-printed when it is JSON, else as it came. */
function payloadView(payload) {
  if (payload.trim() !== "") {
    try {
      return { text: fmtJson(JSON.parse(payload)), json: true };
    } catch {
      // not JSON (or cut short): shown raw
    }
  }
  return { text: payload, json: false };
}

function payloadHtml(l) {
  const payload = typeof l.payload === "string" ? l.payload : "";
  const bytes = utf8Bytes(payload);
  const view = payloadView(payload);
  const cut = l.payloadTruncated
    ? `<p class="dl-cut" data-testid="dead-letter-truncated">Payload cut to ${esc(bytes)} of ${esc(
        l.payloadBytes ?? "?",
      )} bytes.</p>`
    : "";
  const label = `${view.json ? "JSON" : "raw"} · ${bytes} byte${bytes === 1 ? "" : "s"}`;
  const body = payload === "" ? '<span class="muted">(empty)</span>' : esc(view.text);
  return `${cut}<div class="json-block dl-payload">
      <div class="json-head"><span class="muted">${esc(label)}</span>${copyButton(payload, "Copy payload")}</div>
      <pre class="json${view.json ? "" : " raw"}" data-testid="dead-letter-payload">${body}</pre>
    </div>`;
}

function letterRowsHtml(l) {
  const id = String(l.id);
  const detailId = `dead-letter-${id}`;
  const source = String(l.source ?? "");
  const stream =
    l.stream !== undefined && l.stream !== null
      ? `<span class="mono">${esc(l.stream)}</span>${
          l.seq !== undefined && l.seq !== null ? ` <span class="muted">#</span>${esc(l.seq)}` : ""
        }`
      : DASH;
  const deliveries = l.deliveries !== undefined && l.deliveries !== null ? esc(l.deliveries) : DASH;
  const status =
    l.status !== undefined && l.status !== null
      ? `<span class="chip" title="Status" data-testid="dead-letter-status">${esc(l.status)}</span> `
      : "";
  return `<tr data-testid="dead-letter-row" data-letter-id="${esc(id)}" data-source="${esc(source)}" class="clickable dl-row">
    <td class="dl-time"><div>${esc(fmtDateTime(l.at))}</div><div class="muted">${timeHtml(l.at)}</div></td>
    <td>${badge(source || "?", { kind: `source-${source}`, testid: "dead-letter-source" })}</td>
    <td class="dl-reason">${status}<span data-testid="dead-letter-reason">${esc(l.reason ?? "")}</span></td>
    <td class="mono dl-subject" data-testid="dead-letter-subject">${l.subject ? esc(l.subject) : DASH}</td>
    <td>${stream}</td>
    <td>${deliveries}</td>
    <td><button type="button" class="btn btn-small" data-testid="dead-letter-toggle" aria-expanded="false" aria-controls="${esc(
      detailId,
    )}">Payload</button></td>
  </tr>
  <tr class="dl-detail" id="${esc(detailId)}" data-testid="dead-letter-detail" hidden>
    <td colspan="${COLUMNS}">${payloadHtml(l)}</td>
  </tr>`;
}

export function render(root, _params, signal) {
  root.innerHTML = `
    <div class="page-head"><h1>Dead letters</h1>
      <button type="button" class="btn" id="dl-refresh" data-testid="dead-letters-refresh">Refresh</button>
    </div>
    <p class="muted page-intro">What Jetstep took but could not process, with the reason; newest first, kept 30 days.</p>
    <form class="filters" id="dl-filters" autocomplete="off">
      <label>Source
        <select name="source" data-testid="dead-letters-source-filter">
          <option value="">All</option>
          ${SOURCES.map((s) => `<option value="${s}"${filters.source === s ? " selected" : ""}>${s}</option>`).join("")}
        </select>
      </label>
    </form>
    <div id="dl-error"></div>
    <div class="table-wrap">
      <table class="table" id="dl-table">
        <thead><tr><th>Time</th><th>Source</th><th>Reason</th><th>Subject</th><th>Stream / seq</th><th>Deliveries</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <div class="empty muted" id="dl-empty" data-testid="dead-letters-empty" hidden></div>
    <div class="more"><button type="button" class="btn" id="dl-more" data-testid="dead-letters-more" hidden>Load more</button></div>`;

  const form = root.querySelector("#dl-filters");
  const select = form.elements.namedItem("source");
  const tbody = root.querySelector("#dl-table tbody");
  const errBox = root.querySelector("#dl-error");
  const moreBtn = root.querySelector("#dl-more");
  const refreshBtn = root.querySelector("#dl-refresh");
  const empty = root.querySelector("#dl-empty");
  let cursor = null;
  let seq = 0;

  const updateEmpty = () => {
    const none = tbody.children.length === 0;
    empty.hidden = !none;
    if (!none) return;
    const from = filters.source ? ` from <em>${esc(filters.source)}</em>` : "";
    empty.innerHTML = cursor
      ? `<p>No dead letters${from} among the newest ones looked at. “Load more” looks further back.</p>`
      : `<p><strong>No dead letters${from}.</strong></p><p>${EXPLAIN}</p>`;
  };

  async function load(append) {
    const mySeq = ++seq;
    errBox.innerHTML = "";
    moreBtn.disabled = true;
    refreshBtn.disabled = true;
    try {
      const res = await api.deadLetters({
        source: filters.source,
        limit: 50,
        cursor: append ? cursor : undefined,
      });
      if (signal.aborted || mySeq !== seq) return;
      if (!append) tbody.innerHTML = "";
      const have = new Set(
        [...tbody.querySelectorAll("tr[data-letter-id]")].map((tr) => tr.dataset.letterId),
      );
      tbody.insertAdjacentHTML(
        "beforeend",
        (res.data ?? [])
          .filter((l) => !have.has(String(l.id)))
          .map(letterRowsHtml)
          .join(""),
      );
      cursor = res.cursor ?? null;
      moreBtn.hidden = !cursor;
      updateEmpty();
    } catch (e) {
      if (!signal.aborted && mySeq === seq) errBox.innerHTML = apiErrorHtml(e);
    } finally {
      if (mySeq === seq) {
        moreBtn.disabled = false;
        refreshBtn.disabled = false;
      }
    }
  }

  function toggle(row) {
    const detail = row.nextElementSibling;
    const btn = row.querySelector("[data-testid=dead-letter-toggle]");
    if (!detail?.classList.contains("dl-detail") || !btn) return;
    const open = detail.hidden;
    detail.hidden = !open;
    row.classList.toggle("open", open);
    btn.setAttribute("aria-expanded", String(open));
    btn.textContent = open ? "Hide payload" : "Payload";
  }

  tbody.addEventListener("click", (ev) => {
    const row = ev.target.closest("tr.dl-row");
    if (!row || ev.target.closest("a, [data-copy]")) return;
    // Clicking anywhere on the row toggles it, except when selecting its text.
    if (!ev.target.closest("button") && String(window.getSelection?.() ?? "") !== "") return;
    toggle(row);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
  });
  select.addEventListener("change", () => {
    filters.source = select.value;
    void load(false);
  });
  refreshBtn.addEventListener("click", () => load(false));
  moreBtn.addEventListener("click", () => load(true));

  void load(false);
}
