// Measurement tools: length, ellipse and rectangle ROIs. The numbers are computed exactly as
// radnb/viewers/measure.py computes them (pixel (i, j) is inside when its centre (i+.5, j+.5) is).

import { axisOf, extract, panelView, planeShape, planeSpacing, toImage, toScreen } from "./geometry.js";
import { toolNamed } from "./tools.js";
import { fmtData } from "./util.js";

export function roiStats(plane, rows, cols, p0, p1, kind, sp) {
  const r0 = Math.min(p0[0], p1[0]), r1 = Math.max(p0[0], p1[0]);
  const c0 = Math.min(p0[1], p1[1]), c1 = Math.max(p0[1], p1[1]);
  const hmm = (r1 - r0) * sp[0], wmm = (c1 - c0) * sp[1];
  const area = kind === "ellipse" ? (Math.PI * hmm * wmm) / 4 : hmm * wmm;
  const a = (r1 - r0) / 2, b = (c1 - c0) / 2, cr = (r0 + r1) / 2, cc = (c0 + c1) / 2;
  const inside = (i, j) => {
    const y = i + 0.5, x = j + 0.5;
    if (kind === "rectangle") return y >= r0 && y <= r1 && x >= c0 && x <= c1;
    if (a <= 0 || b <= 0) return false;
    return ((y - cr) / a) ** 2 + ((x - cc) / b) ** 2 <= 1;
  };
  const iLo = Math.max(0, Math.floor(r0) - 1), iHi = Math.min(rows - 1, Math.ceil(r1) + 1);
  const jLo = Math.max(0, Math.floor(c0) - 1), jHi = Math.min(cols - 1, Math.ceil(c1) + 1);
  let n = 0, sum = 0, mn = Infinity, mx = -Infinity;
  for (let i = iLo; i <= iHi; i++)
    for (let j = jLo; j <= jHi; j++)
      if (inside(i, j)) {
        const val = plane[i * cols + j];
        n++; sum += val;
        if (val < mn) mn = val;
        if (val > mx) mx = val;
      }
  if (n === 0) return { mean: NaN, sd: NaN, min: NaN, max: NaN, n_pixels: 0, area_mm2: area };
  const mean = sum / n;
  let ss = 0;
  for (let i = iLo; i <= iHi; i++)
    for (let j = jLo; j <= jHi; j++)
      if (inside(i, j)) {
        const d = plane[i * cols + j] - mean;
        ss += d * d;
      }
  return { mean, sd: Math.sqrt(ss / n), min: mn, max: mx, n_pixels: n, area_mm2: area };
}

// A drag tool that draws a measurement {kind, view, index, p0, p1, value} on the slice on screen
// and keeps it in the `measurements` trait when the drag ends. spec: {name, label, value(v, m),
// text(v, m), path(ctx, x0, y0, x1, y1)}.
export function measurementTool(spec) {
  return {
    ...spec,
    measurement: true,
    start(v, d) {
      const view = panelView(v, d.p);
      const pt = toImage(d.p, d.x0, d.y0);
      v.drawing = { kind: spec.name, view, index: v.st.position[axisOf(view)], p0: pt, p1: pt.slice(), value: null };
    },
    move(v, d, dx, dy, x, y) {
      if (!v.drawing) return;
      v.drawing.p1 = toImage(d.p, x, y);
      v.drawing.value = spec.value(v, v.drawing);
    },
    end(v, d) {
      if (v.drawing && d.moved) {
        v.drawing.value = spec.value(v, v.drawing);
        v.st.measurements = [...v.st.measurements, v.drawing];
      }
      v.drawing = null;
    },
  };
}

function roiValue(v, m) {
  const [rows, cols] = planeShape(v, m.view);
  const plane = extract(v, 0, m.view, m.index, null);
  return roiStats(plane, rows, cols, m.p0, m.p1, m.kind, planeSpacing(v, m.view));
}

function roiText(v, m) {
  const u = v.units ? " " + v.units : "";
  return `mean ${fmtData(m.value.mean, v.digits)}${u} SD ${fmtData(m.value.sd, v.digits)}${u} · ${m.value.area_mm2.toFixed(1)} mm²`;
}

export const length = measurementTool({
  name: "length",
  label: "Length",
  value(v, m) {
    const sp = planeSpacing(v, m.view);
    return { length_mm: Math.hypot((m.p1[0] - m.p0[0]) * sp[0], (m.p1[1] - m.p0[1]) * sp[1]) };
  },
  text: (v, m) => `${m.value.length_mm.toFixed(1)} mm`,
  path(ctx, x0, y0, x1, y1) { ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); },
});

export const ellipse = measurementTool({
  name: "ellipse",
  label: "Ellipse",
  value: roiValue,
  text: roiText,
  path(ctx, x0, y0, x1, y1) {
    ctx.ellipse((x0 + x1) / 2, (y0 + y1) / 2, Math.abs(x1 - x0) / 2, Math.abs(y1 - y0) / 2, 0, 0, 2 * Math.PI);
  },
});

export const rectangle = measurementTool({
  name: "rectangle",
  label: "Rect",
  value: roiValue,
  text: roiText,
  path(ctx, x0, y0, x1, y1) { ctx.rect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)); },
});

export const measurementTools = [length, ellipse, rectangle];

// the measurements of this slice (and the one being drawn), each by the tool that made it
export function drawMeasurements(v, p, view, index, xf) {
  const ctx = p.ctx;
  const all = v.drawing ? [...v.st.measurements, v.drawing] : v.st.measurements;
  for (const m of all) {
    if (m.view !== view || m.index !== index) continue;
    const tool = toolNamed(m.kind);
    if (!tool || !tool.measurement || !m.value) continue;
    const [x0, y0] = toScreen(xf, m.p0[0], m.p0[1]);
    const [x1, y1] = toScreen(xf, m.p1[0], m.p1[1]);
    ctx.strokeStyle = "#00e5ff";
    ctx.fillStyle = "#00e5ff";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    tool.path(ctx, x0, y0, x1, y1);
    ctx.stroke();
    ctx.font = "12px sans-serif";
    ctx.fillText(tool.text(v, m), Math.max(x0, x1) + 4, Math.min(y0, y1) - 4 < 12 ? Math.max(y0, y1) + 14 : Math.min(y0, y1) - 4);
  }
}
