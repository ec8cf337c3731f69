/** Events list: live (SSE) newest first, name filter, internal toggle, "Load more". */
import { api } from "../api.js";
import { apiErrorHtml, idHtml } from "../components.js";
import { onConnected, subscribe } from "../stream.js";
import { esc, preview, timeHtml } from "../util.js";

const filters = { name: "", includeInternal: false };

const isInternal = (name) => typeof name === "string" && name.startsWith("inngest/");

function eventRowHtml(e) {
  const href = `#/events/${encodeURIComponent(e.id)}`;
  return `<tr data-testid="event-row" data-event-id="${esc(e.id)}" class="clickable" data-href="${esc(href)}">
    <td><a href="${esc(href)}">${esc(e.name)}</a></td>
    <td>${idHtml(e.id)}</td>
    <td>${timeHtml(e.ts)}</td>
    <td class="mono preview" title="${esc(preview(e.data, 2000))}">${esc(preview(e.data))}</td>
  </tr>`;
}

export function render(root, _params, signal) {
  root.innerHTML = `
    <div class="page-head"><h1>Events</h1></div>
    <form class="filters" id="event-filters" autocomplete="off">
      <label>Event name <input name="event_name" type="text" placeholder="e.g. user/signup" value="${esc(filters.name)}"></label>
      <label class="check"><input type="checkbox" name="include_internal" data-testid="include-internal" ${
        filters.includeInternal ? "checked" : ""
      }> Include internal events</label>
      <div class="filter-actions"><button type="submit" class="btn">Apply</button></div>
    </form>
    <div id="events-error"></div>
    <div class="table-wrap">
      <table class="table" id="events-table">
        <thead><tr><th>Name</th><th>Event ID</th><th>Received</th><th>Data</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p class="empty muted" id="events-empty" hidden>No events yet. Use “Send event” to send one.</p>
    <div class="more"><button type="button" class="btn" id="events-more" hidden>Load more</button></div>`;

  const form = root.querySelector("#event-filters");
  const tbody = root.querySelector("#events-table tbody");
  const errBox = root.querySelector("#events-error");
  const moreBtn = root.querySelector("#events-more");
  const empty = root.querySelector("#events-empty");
  let cursor = null;
  let seq = 0;

  const updateEmpty = () => {
    empty.hidden = tbody.children.length > 0;
  };

  async function load(append) {
    const mySeq = ++seq;
    errBox.innerHTML = "";
    moreBtn.disabled = true;
    try {
      const res = await api.events({
        name: filters.name,
        limit: 50,
        cursor: append ? cursor : undefined,
        include_internal: String(filters.includeInternal),
      });
      if (signal.aborted || mySeq !== seq) return;
      if (!append) tbody.innerHTML = "";
      const have = new Set([...tbody.querySelectorAll("tr[data-event-id]")].map((tr) => tr.dataset.eventId));
      tbody.insertAdjacentHTML(
        "beforeend",
        res.data
          .filter((e) => !have.has(e.id))
          .map(eventRowHtml)
          .join(""),
      );
      cursor = res.cursor;
      moreBtn.hidden = !cursor;
    } catch (e) {
      if (!signal.aborted && mySeq === seq) errBox.innerHTML = apiErrorHtml(e);
    } finally {
      moreBtn.disabled = false;
      updateEmpty();
    }
  }

  const apply = () => {
    filters.name = form.elements.namedItem("event_name").value.trim();
    filters.includeInternal = form.elements.namedItem("include_internal").checked;
    void load(false);
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  form.elements.namedItem("include_internal").addEventListener("change", apply);
  moreBtn.addEventListener("click", () => load(true));

  const unsub = subscribe("event", (ev) => {
    if (!ev?.id) return;
    if (filters.name && ev.name !== filters.name) return;
    if (!filters.name && !filters.includeInternal && isInternal(ev.name)) return;
    if (tbody.querySelector(`tr[data-event-id="${CSS.escape(ev.id)}"]`)) return;
    tbody.insertAdjacentHTML("afterbegin", eventRowHtml(ev));
    tbody.firstElementChild.classList.add("flash");
    updateEmpty();
  });
  const unsubConnected = onConnected(() => void load(false));
  signal.addEventListener("abort", () => {
    unsub();
    unsubConnected();
  });

  void load(false);
}
