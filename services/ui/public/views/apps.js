/** Apps: URL, SDK, function count, last sync and sync errors; add an app URL; resync; remove. */
import { api } from "../api.js";
import { apiErrorHtml, badge, toast } from "../components.js";
import { esc, timeHtml } from "../util.js";

function syncHtml(a) {
  if (!a.sync) return '<span class="muted">—</span>';
  if (a.sync.ok) return `${badge("ok", { kind: "completed" })} ${timeHtml(a.sync.at)}`;
  // Serves an app another URL holds: it takes over when that one stops answering.
  if (a.sync.heldBy)
    return `${badge("standby", { kind: "phase-queued" })} <span class="muted" data-testid="sync-standby">${esc(a.sync.heldBy.appId)} is served at ${esc(a.sync.heldBy.url)}; this URL takes it over when that one stops answering or is removed, or when you resync it</span>`;
  const retry = a.sync.retryAt
    ? ` <span class="muted" data-testid="sync-retry">${a.sync.failures} failed in a row; next try ${timeHtml(a.sync.retryAt)}</span>`
    : "";
  return `${badge("error", { kind: "failed" })} <span class="error-text" data-testid="sync-error">${esc(a.sync.error ?? "")}</span>${retry}`;
}

const TABLE_HEAD =
  "<thead><tr><th>App</th><th>URL</th><th>SDK</th><th>Functions</th><th>Last registration</th><th>Sync</th><th></th></tr></thead>";

/** Apps configured (-u, added here, NATS workers) first; then those auto-discovery found, apart. */
function appsHtml(apps) {
  const discovered = apps.filter((a) => a.sync?.discovered);
  const configured = apps.filter((a) => !a.sync?.discovered);
  const table = (rows, testid) =>
    `<div class="table-wrap"><table class="table" data-testid="${testid}">${TABLE_HEAD}<tbody>${rows.map(appRowHtml).join("")}</tbody></table></div>`;
  return [
    configured.length ? table(configured, "apps-configured") : "",
    discovered.length
      ? `<h2>Discovered on this machine</h2><p class="muted">Found by probing common local ports and serve paths (jetstep dev without -u; --no-discovery turns it off).</p>${table(discovered, "apps-discovered")}`
      : "",
  ].join("");
}

function appRowHtml(a) {
  const fns = a.functions ?? [];
  const name = a.appId ? `<strong>${esc(a.appId)}</strong>` : '<span class="muted">(not registered)</span>';
  return `<tr data-testid="app-row" data-app-id="${esc(a.appId ?? "")}" data-url="${esc(a.url)}">
    <td>${name}</td>
    <td class="mono"><a href="${esc(a.url)}" target="_blank" rel="noopener noreferrer">${esc(a.url)}</a></td>
    <td>${a.sdk ? esc(a.sdk) : '<span class="muted">—</span>'}${a.framework ? ` <span class="muted">(${esc(a.framework)})</span>` : ""}</td>
    <td title="${esc(fns.map((f) => f.name ?? f.id).join(", "))}"><a href="#/functions">${fns.length}</a></td>
    <td>${a.syncedAt ? timeHtml(a.syncedAt) : '<span class="muted">never</span>'}</td>
    <td class="sync-cell">${syncHtml(a)}</td>
    <td class="nowrap">
      <button type="button" class="btn" data-testid="resync-app" data-url="${esc(a.url)}">Resync</button>
      <button type="button" class="btn btn-danger" data-testid="remove-app" data-app-id="${esc(a.appId ?? "")}" data-url="${esc(a.url)}">Remove</button>
    </td>
  </tr>`;
}

export function render(root, _params, signal) {
  root.innerHTML = `<div class="page-head"><h1>Apps</h1></div>
    <form class="card inline-form" id="add-app-form">
      <label for="add-app-url">Add an app URL</label>
      <input id="add-app-url" data-testid="add-app-url" type="url" placeholder="http://localhost:3000/api/inngest" required>
      <button type="submit" class="btn primary" data-testid="add-app-submit">Add and sync</button>
      <div id="add-app-error"></div>
    </form>
    <div id="apps-body"><p class="muted">Loading…</p></div>`;
  const body = root.querySelector("#apps-body");
  const load = () =>
    api
      .apps()
      .then((res) => {
        if (signal.aborted) return;
        body.innerHTML = res.data.length
          ? appsHtml(res.data)
          : '<p class="empty muted">No apps yet. Add an app URL above, start the dev server with <code>-u &lt;url&gt;</code>, or serve one at a common local port (3000, /api/inngest) for the dev server to find.</p>';
      })
      .catch((e) => {
        if (!signal.aborted) body.innerHTML = apiErrorHtml(e);
      });
  const report = (res) => {
    const r = res.data;
    toast(r.ok ? `Synced ${esc(r.url)}` : `Sync of ${esc(r.url)} failed: ${esc(r.error ?? "")}`);
    void load();
  };
  root.querySelector("#add-app-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = root.querySelector("#add-app-url");
    const slot = root.querySelector("#add-app-error");
    slot.innerHTML = "";
    api
      .addApp(input.value.trim())
      .then(report)
      .catch((e) => {
        slot.innerHTML = apiErrorHtml(e);
      });
  });
  body.addEventListener("click", (ev) => {
    const remove = ev.target.closest?.('[data-testid="remove-app"]');
    if (remove) {
      const { appId, url } = remove.dataset;
      const what = appId ? `app ${appId} (${url})` : url;
      // Its functions stop being triggered or called; runs already started go on.
      if (!window.confirm(`Remove ${what}? Its functions will no longer be triggered.`)) return;
      remove.disabled = true;
      (appId ? api.removeApp(appId) : api.removeAppUrl(url))
        .then(() => {
          toast(`Removed ${esc(what)}`);
          void load();
        })
        .catch((e) => {
          remove.disabled = false;
          body.insertAdjacentHTML("afterbegin", apiErrorHtml(e));
        });
      return;
    }
    const btn = ev.target.closest?.('[data-testid="resync-app"]');
    if (!btn) return;
    btn.disabled = true;
    api
      .syncApp(btn.dataset.url)
      .then(report)
      .catch((e) => {
        body.insertAdjacentHTML("afterbegin", apiErrorHtml(e));
      })
      .finally(() => {
        btn.disabled = false;
      });
  });
  void load();
}
