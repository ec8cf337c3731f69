/**
 * Time-series charts drawn as SVG (no chart library: the UI has no build step, and these are four
 * charts of two kinds). `chartHtml` draws stacked bars and/or lines over time bins, with a y axis
 * of round numbers, a few time labels, a tooltip (`<title>`) on every bar and point, and a legend.
 *
 *   series: [{ key, label, color (a CSS colour), kind: "bar" | "line", zeroIsData? }]
 *   points: [{ t (ISO or ms), [key]: number | null }]   (null: no value, a gap in a line)
 */
import { esc } from "./util.js";

const H = 180;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

/** A round upper bound for the y axis (1, 2 or 5 × a power of ten) at or above `max`. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * pow >= max) return m * pow;
  return 10 * pow;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  const hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
  return spanMs > 12 * 3600_000 ? `${p(d.getMonth() + 1)}-${p(d.getDate())} ${hm}` : hm;
}

/**
 * The chart's HTML: a titled figure with the SVG and a legend. `format(v)` writes values on the
 * axis and in tooltips; `stepMs` is a bin's width; `width` the pixels the chart is shown at.
 */
export function chartHtml({
  id,
  title,
  points,
  series,
  stepMs,
  format = String,
  empty = "No data",
  width = 640,
}) {
  // Drawn at the width it is shown at (at least 300), so that its text is never scaled down.
  const W = Math.max(300, Math.round(width));
  const n = points.length;
  const times = points.map((p) => new Date(p.t).getTime());
  const bars = series.filter((s) => s.kind === "bar");
  const lines = series.filter((s) => s.kind === "line");
  let max = 0;
  for (const p of points) {
    max = Math.max(
      max,
      bars.reduce((sum, s) => sum + (p[s.key] ?? 0), 0),
    );
    for (const s of lines) if (p[s.key] !== null && p[s.key] !== undefined) max = Math.max(max, p[s.key]);
  }
  // A line's value of 0 is data when the series says so (a failure rate of 0%: runs ended).
  const hasData = points.some((p) =>
    series.some((s) => (p[s.key] ?? 0) > 0 || (s.zeroIsData && p[s.key] === 0)),
  );
  const top = niceMax(max);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = n > 0 ? plotW / n : plotW;
  const x = (i) => PAD.left + i * slot;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const when = (i) => timeLabel(times[i], (times[n - 1] ?? 0) - (times[0] ?? 0) + stepMs);

  const grid = [0, 0.5, 1]
    .map((f) => {
      const v = top * f;
      // An empty chart has no scale to speak of: only its zero is labelled.
      const label = hasData || f === 0 ? esc(format(v)) : "";
      return `<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}"/>
        <text class="axis" x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end">${label}</text>`;
    })
    .join("");
  const ticks = n <= 1 ? [0] : W < 480 ? [0, n - 1] : [0, Math.floor(n / 3), Math.floor((2 * n) / 3), n - 1];
  const xLabels = [...new Set(ticks)]
    .filter((i) => i < n)
    .map((i) => {
      // The first and last labels end inside the chart.
      const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
      const at = anchor === "start" ? x(i) : anchor === "end" ? x(i) + slot : x(i) + slot / 2;
      return `<text class="axis" x="${at}" y="${H - 6}" text-anchor="${anchor}">${esc(when(i))}</text>`;
    })
    .join("");

  const barW = Math.max(1, slot * 0.8);
  const rects = points
    .map((p, i) => {
      let base = 0;
      return bars
        .map((s) => {
          const v = p[s.key] ?? 0;
          if (v <= 0) return "";
          const r = `<rect class="bar" data-series="${esc(s.key)}" x="${x(i) + (slot - barW) / 2}" y="${y(base + v)}" width="${barW}" height="${Math.max(0.5, y(base) - y(base + v))}" style="fill:${esc(s.color)}"><title>${esc(`${when(i)} · ${format(v)} ${s.label}`)}</title></rect>`;
          base += v;
          return r;
        })
        .join("");
    })
    .join("");
  const paths = lines
    .map((s) => {
      let d = "";
      let pen = false;
      const dots = [];
      points.forEach((p, i) => {
        const v = p[s.key];
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        const cx = x(i) + slot / 2;
        d += `${pen ? "L" : "M"}${cx.toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        dots.push(
          `<circle class="dot" data-series="${esc(s.key)}" cx="${cx.toFixed(1)}" cy="${y(v).toFixed(1)}" r="${n > 60 ? 1.5 : 2.5}" style="fill:${esc(s.color)}"><title>${esc(`${when(i)} · ${s.label} ${format(v)}`)}</title></circle>`,
        );
      });
      return `<path class="line" data-series="${esc(s.key)}" d="${d}" style="stroke:${esc(s.color)}"/>${dots.join("")}`;
    })
    .join("");
  const legend = series
    .map((s) => `<span class="legend-item"><i style="background:${esc(s.color)}"></i>${esc(s.label)}</span>`)
    .join("");
  return `<figure class="chart card" data-testid="chart-${esc(id)}">
    <figcaption>${esc(title)}</figcaption>
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">
      ${grid}${xLabels}${rects}${paths}
      ${hasData ? "" : `<text class="chart-empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">${esc(empty)}</text>`}
    </svg>
    <div class="legend">${legend}</div>
  </figure>`;
}
