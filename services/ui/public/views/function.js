/**
 * One function: its triggers and options, and its activity over a time range (runs per bin by
 * status, failure rate, run duration p50/p95, backlog) drawn from `GET /v1/functions/:id/activity`,
 * refreshed every 15 s. The range is in the URL (`#/functions/<id>?range=24h`).
 */
import { api } from "../api.js";
import { chartHtml } from "../charts.js";
import { apiErrorHtml, jsonBlock, notFoundHtml } from "../components.js";
import { esc, fmtDuration } from "../util.js";
import { logHtml, mountOps, opsHtml } from "./function-ops.js";
import { flowHtml, triggersHtml } from "./functions.js";
import { presetRunFilters } from "./runs.js";

const HOUR = 3_600_000;
const RANGES = { "1h": HOUR, "6h": 6 * HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR };
const REFRESH_MS = 15_000;

function rangeOfHash() {
  const r = new URLSearchParams(location.hash.split("?")[1] ?? "").get("range");
  return r && Object.hasOwn(RANGES, r) ? r : "1h";
}

function stepText(ms) {
  if (ms === 60_000) return "minute";
  if (ms < HOUR) return `${ms / 60_000} min`;
  return ms === HOUR ? "hour" : `${ms / HOUR} h`;
}

const percent = (v) => `${Math.round(v * 10) / 10}%`;
const count = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

function summaryHtml(points) {
  const sum = (k) => points.reduce((n, p) => n + (p[k] ?? 0), 0);
  const ended = sum("completed") + sum("failed") + sum("cancelled");
  const items = [
    ["Started", sum("started")],
    ["Completed", sum("completed")],
    ["Failed", sum("failed")],
    ["Cancelled", sum("cancelled")],
    ["Failure rate", ended ? percent((100 * sum("failed")) / ended) : "—"],
    ["Step attempts", sum("step_attempts")],
  ];
  return items
    .map(
      ([label, v]) =>
        `<div class="stat"><div class="stat-value" data-testid="stat-${esc(label.toLowerCase().replace(/ /g, "-"))}">${esc(v)}</div><div class="muted">${esc(label)}</div></div>`,
    )
    .join("");
}

function chartsHtml(data, width) {
  const { points, step_ms: stepMs } = data;
  const per = stepText(stepMs);
  const rates = points.map((p) => ({
    t: p.t,
    rate: p.failure_rate === null ? null : p.failure_rate * 100,
  }));
  return [
    chartHtml({
      id: "runs",
      title: `Runs per ${per}`,
      points,
      stepMs,
      width,
      format: count,
      empty: "No runs in this range",
      series: [
        { key: "completed", label: "completed", color: "var(--ok)", kind: "bar" },
        { key: "failed", label: "failed", color: "var(--fail)", kind: "bar" },
        { key: "cancelled", label: "cancelled", color: "var(--idle)", kind: "bar" },
        { key: "started", label: "started", color: "var(--run)", kind: "line" },
      ],
    }),
    chartHtml({
      id: "failure-rate",
      title: "Failure rate (of the runs that ended)",
      points: rates,
      stepMs,
      width,
      format: percent,
      empty: "No run ended in this range",
      series: [{ key: "rate", label: "failed", color: "var(--fail)", kind: "line", zeroIsData: true }],
    }),
    chartHtml({
      id: "duration",
      title: "Run duration",
      points,
      stepMs,
      width,
      format: fmtDuration,
      empty: "No run ended in this range",
      series: [
        { key: "p50_ms", label: "p50", color: "var(--run)", kind: "line", zeroIsData: true },
        { key: "p95_ms", label: "p95", color: "var(--wait)", kind: "line", zeroIsData: true },
      ],
    }),
    chartHtml({
      id: "backlog",
      title: "Backlog (calls waiting for a throttle turn or a concurrency slot)",
      points,
      stepMs,
      width,
      format: count,
      empty: "Nothing waited in this range",
      series: [{ key: "backlog", label: "waiting", color: "var(--warn)", kind: "bar" }],
    }),
  ].join("");
}

export function render(root, { id }, signal) {
  let range = rangeOfHash();
  root.innerHTML = `<div class="page-head">
      <div><h1 id="fn-title">${esc(id)}</h1><div class="muted mono" id="fn-sub"></div></div>
      <div class="actions"><a class="btn btn-ghost" href="#/runs" data-testid="fn-runs-link">Runs</a></div>
    </div>
    <div id="fn-error"></div>
    ${opsHtml()}
    <div class="range-picker" role="group" aria-label="Time range" data-testid="range-picker">
      ${Object.keys(RANGES)
        .map((r) => `<button type="button" class="btn btn-ghost" data-range="${r}">${r}</button>`)
        .join("")}
    </div>
    <div class="stats" id="fn-stats"></div>
    <div class="charts" id="fn-charts"><p class="muted">Loading…</p></div>
    <div id="fn-about"></div>
    ${logHtml()}`;
  const charts = root.querySelector("#fn-charts");
  const errSlot = root.querySelector("#fn-error");
  let timer;
  let last; // the activity drawn, drawn again when the page's width changes
  const draw = () => {
    if (!last) return;
    // Two charts a row above 820 px (style.css), one below; minus each card's padding.
    const perRow = window.innerWidth > 820 ? 2 : 1;
    const width = (charts.clientWidth - (perRow - 1) * 14) / perRow - 34;
    charts.innerHTML = chartsHtml(last, width);
  };
  let resizing;
  const onResize = () => {
    clearTimeout(resizing);
    resizing = setTimeout(draw, 150);
  };
  window.addEventListener("resize", onResize);

  const markRange = () => {
    for (const b of root.querySelectorAll("[data-range]")) {
      const on = b.dataset.range === range;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", String(on));
    }
  };
  markRange();

  async function refresh() {
    clearTimeout(timer);
    const to = Date.now();
    const shown = range;
    try {
      const res = await api.activity(id, { from: to - RANGES[shown], to });
      if (signal.aborted || shown !== range) return;
      errSlot.innerHTML = "";
      charts.dataset.range = shown;
      last = res.data;
      draw();
      root.querySelector("#fn-stats").innerHTML = summaryHtml(res.data.points);
    } catch (e) {
      if (signal.aborted) return;
      if (e.status === 404) {
        root.innerHTML = notFoundHtml("Function", `No function ${id} is registered.`);
        return;
      }
      errSlot.innerHTML = apiErrorHtml(e);
    }
    if (!signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  }
  signal.addEventListener("abort", () => {
    clearTimeout(timer);
    clearTimeout(resizing);
    window.removeEventListener("resize", onResize);
  });

  root.querySelector("[data-testid=range-picker]").addEventListener("click", (e) => {
    const b = e.target.closest("[data-range]");
    if (!b || b.dataset.range === range) return;
    range = b.dataset.range;
    // The range goes into the URL without a navigation (a reload or a shared link keeps it).
    history.replaceState(null, "", `#/functions/${encodeURIComponent(id)}?range=${range}`);
    markRange();
    void refresh();
  });
  root.querySelector("[data-testid=fn-runs-link]").addEventListener("click", () => {
    presetRunFilters({ function_id: id });
  });

  mountOps(root, id, () => [Date.now() - RANGES[range], Date.now()], signal);
  api
    .functions()
    .then((res) => {
      if (signal.aborted) return;
      const f = res.data.find((x) => x.id === id);
      if (!f) return;
      root.querySelector("#fn-title").textContent = f.name ?? f.id;
      root.querySelector("#fn-sub").textContent = `${f.id} · app ${f.app_id}`;
      root.querySelector("#fn-about").innerHTML = `<div class="card fn-body">
          <div><h3>Triggers</h3>${triggersHtml(f.triggers)}</div>
          <div><h3>Flow control</h3>${flowHtml(f.config)}</div>
        </div>
        <details class="fn-config card"><summary>Full config</summary>${jsonBlock(f.config)}</details>`;
    })
    .catch(() => undefined); // the activity request reports what is wrong
  void refresh();
}
