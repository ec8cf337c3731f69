/** Apps: URL, SDK, function count, last sync. */
import { api } from "../api.js";
import { apiErrorHtml } from "../components.js";
import { esc, timeHtml } from "../util.js";

function appRowHtml(a) {
  const fns = a.functions ?? [];
  return `<tr data-testid="app-row" data-app-id="${esc(a.appId)}">
    <td><strong>${esc(a.appId)}</strong></td>
    <td class="mono"><a href="${esc(a.url)}" target="_blank" rel="noopener noreferrer">${esc(a.url)}</a></td>
    <td>${a.sdk ? esc(a.sdk) : '<span class="muted">—</span>'}${a.framework ? ` <span class="muted">(${esc(a.framework)})</span>` : ""}</td>
    <td title="${esc(fns.map((f) => f.name ?? f.id).join(", "))}"><a href="#/functions">${fns.length}</a></td>
    <td>${timeHtml(a.syncedAt)}</td>
  </tr>`;
}

export function render(root, _params, signal) {
  root.innerHTML = `<div class="page-head"><h1>Apps</h1></div><div id="apps-body"><p class="muted">Loading…</p></div>`;
  const body = root.querySelector("#apps-body");
  api
    .apps()
    .then((res) => {
      if (signal.aborted) return;
      body.innerHTML = res.data.length
        ? `<div class="table-wrap"><table class="table">
            <thead><tr><th>App</th><th>URL</th><th>SDK</th><th>Functions</th><th>Last sync</th></tr></thead>
            <tbody>${res.data.map(appRowHtml).join("")}</tbody></table></div>`
        : '<p class="empty muted">No apps synced yet. Start the dev server with <code>-u &lt;url&gt;</code>.</p>';
    })
    .catch((e) => {
      if (!signal.aborted) body.innerHTML = apiErrorHtml(e);
    });
}
