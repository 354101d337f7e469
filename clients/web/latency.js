// Latency readout: latest and rolling median of the server's latency_ms for
// partials and finals, and a sparkline of recent values.

const SVG_NS = "http://www.w3.org/2000/svg";

export function median(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export class LatencyStats {
  constructor(window = 50) {
    this.window = window;
    this.series = { partial: [], final: [] };
  }

  add(kind, ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return false;
    const s = this.series[kind];
    s.push(ms);
    if (s.length > this.window) s.shift();
    return true;
  }

  last(kind) {
    const s = this.series[kind];
    return s.length ? s[s.length - 1] : null;
  }

  median(kind) {
    return median(this.series[kind]);
  }

  clear() {
    this.series = { partial: [], final: [] };
  }
}

export function formatMs(ms) {
  if (ms == null) return "\u2013";
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10000 ? 1 : 2)} s` : `${Math.round(ms)} ms`;
}

/** The next "round" number: 1, 2, 2.5 or 5 times a power of ten. */
export function niceCeil(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** Draw the series into an <svg> (polylines; the scale adapts to the data). */
export function drawSparkline(svg, stats) {
  const w = 240;
  const h = 48;
  const pad = 3;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const all = [...stats.series.partial, ...stats.series.final];
  const max = niceCeil(Math.max(500, ...all) * 1.05);
  svg.replaceChildren();
  for (const frac of [0.5]) {
    const line = document.createElementNS(SVG_NS, "line");
    line.setAttribute("x1", "0");
    line.setAttribute("x2", String(w));
    line.setAttribute("y1", String(h - pad - frac * (h - 2 * pad)));
    line.setAttribute("y2", String(h - pad - frac * (h - 2 * pad)));
    line.setAttribute("class", "grid");
    svg.append(line);
  }
  // x: the newest value at the right edge; spacing fixed by the longer series
  // (at least 12 slots, so the first few values do not stretch across the box).
  const slots = Math.max(12, stats.series.partial.length, stats.series.final.length);
  const dx = (w - 2 * pad) / (slots - 1);
  for (const kind of ["partial", "final"]) {
    const s = stats.series[kind];
    if (!s.length) continue;
    const pts = s.map((v, i) => {
      const x = w - pad - (s.length - 1 - i) * dx;
      const y = h - pad - (v / max) * (h - 2 * pad);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const poly = document.createElementNS(SVG_NS, "polyline");
    poly.setAttribute("points", pts.join(" "));
    poly.setAttribute("class", `spark-${kind}`);
    svg.append(poly);
  }
  svg.dataset.max = String(Math.round(max));
  return max;
}
