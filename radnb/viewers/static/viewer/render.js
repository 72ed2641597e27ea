// Rendering: the grey image through the window lookup table, overlays, reference lines and
// measurements drawn per panel, and the status line; frames are coalesced per animation frame.

import { axisOf, extract, panelView, planeOfVoxel, planeShape, sliceNumber, toScreen, transformFor, viewName } from "./geometry.js";
import { drawMeasurements } from "./measurements.js";
import { isOutline, paintOverlay } from "./overlays.js";
import { TOOLS } from "./tools.js";
import { fmtData, rgbaWord } from "./util.js";

// DICOM PS3.3 VOI functions scaled to 0..255 with the same operations as Python's
// display.window_to_uint8, so both give the same grey levels. Python picks the function
// (_voi_function): LINEAR (C.11.2.1.2.1, needs width >= 1) for images of whole numbers,
// LINEAR_EXACT (C.11.2.1.3.2, any width > 0) for images with fractional values.
export function voiGrey(x, center, width, exact) {
  let y;
  if (exact) y = (x - center) / width + 0.5;
  else if (width <= 1) return x > center - 0.5 ? 255 : 0;
  else y = (x - (center - 0.5)) / (width - 1) + 0.5;
  if (y < 0) y = 0;
  else if (y > 1) y = 1;
  return Math.floor(y * 255 + 0.5);
}

const GREY_RGBA = new Uint32Array(256);
for (let g = 0; g < 256; g++) GREY_RGBA[g] = (0xff000000 | (g << 16) | (g << 8) | g) >>> 0;

// window lookup table for integer images (int16: 65536 entries, uint8: 256), rebuilt on change
function greyLut(v) {
  const st = v.st, cache = v.greyLut;
  const key = `${st.window}|${st.level}|${st.invert}`;
  if (key === cache.key) return cache.lut;
  cache.key = key;
  const dtype = v.layers[0].dtype;
  if (dtype === "int16") {
    const lut = (cache.lut = cache.lut && cache.lut.length === 65536 ? cache.lut : new Uint32Array(65536));
    for (let x = -32768; x < 32768; x++) {
      const g = voiGrey(x, st.level, st.window, v.voiExact);
      lut[x + 32768] = GREY_RGBA[st.invert ? 255 - g : g];
    }
  } else if (dtype === "uint8") {
    const lut = (cache.lut = new Uint32Array(256));
    for (let x = 0; x < 256; x++) {
      const g = voiGrey(x, st.level, st.window, v.voiExact);
      lut[x] = GREY_RGBA[st.invert ? 255 - g : g];
    }
  }
  return cache.lut;
}

function paintBase(v, p, view, index) {
  const [rows, cols] = planeShape(v, view);
  if (p.base.width !== cols || p.base.height !== rows || !p.imageData) {
    p.base.width = cols; p.base.height = rows;
    p.imageData = p.baseCtx.createImageData(cols, rows);
  }
  const plane = (p.plane = extract(v, 0, view, index, p.plane));
  const out = new Uint32Array(p.imageData.data.buffer);
  const n = rows * cols;
  const dtype = v.layers[0].dtype;
  if (dtype === "int16") {
    const t = greyLut(v);
    for (let i = 0; i < n; i++) out[i] = t[plane[i] + 32768];
  } else if (dtype === "uint8") {
    const t = greyLut(v);
    for (let i = 0; i < n; i++) out[i] = t[plane[i]];
  } else if (dtype === "rgb8") {
    for (let i = 0, k = 0; i < n; i++, k += 3) out[i] = rgbaWord(plane[k], plane[k + 1], plane[k + 2]);
  } else {
    // float32 data: no lookup table; per pixel, exactly as window_to_uint8 computes it
    const c = v.st.level, w = v.st.window, inv = v.st.invert;
    for (let i = 0; i < n; i++) {
      const g = voiGrey(plane[i], c, w, v.voiExact);
      out[i] = GREY_RGBA[inv ? 255 - g : g];
    }
  }
  p.baseCtx.putImageData(p.imageData, 0, 0);
}

function drawReferenceLines(v, p, view, xf) {
  if (v.panels.length < 2 || !v.panels.some((q) => panelView(v, q) !== view)) return;
  const ctx = p.ctx;
  const [r, c] = planeOfVoxel(v, view, v.st.position);
  const [x0, y0] = toScreen(xf, r + 0.5, 0), [x1] = toScreen(xf, r + 0.5, xf.cols);
  const [cx, cy0] = toScreen(xf, 0, c + 0.5), [, cy1] = toScreen(xf, xf.rows, c + 0.5);
  // a dark halo under a bright line: visible over black air and over white bone alike
  for (const [style, width] of [["rgba(0, 0, 0, 0.7)", 3], ["rgb(255, 215, 0)", 1.5]]) {
    ctx.strokeStyle = style;
    ctx.lineWidth = width;
    ctx.beginPath();
    ctx.moveTo(x0, y0); ctx.lineTo(x1, y0);
    ctx.moveTo(cx, cy0); ctx.lineTo(cx, cy1);
    ctx.stroke();
  }
}

function drawPanel(v, p) {
  const st = v.st;
  const view = panelView(v, p);
  const axis = axisOf(view);
  const index = st.position[axis];
  const dpr = window.devicePixelRatio || 1;
  const cw = p.canvas.clientWidth, ch = p.canvas.clientHeight;
  if (p.canvas.width !== Math.round(cw * dpr) || p.canvas.height !== Math.round(ch * dpr)) {
    p.canvas.width = Math.round(cw * dpr); p.canvas.height = Math.round(ch * dpr);
  }
  const ctx = p.ctx;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, p.canvas.width, p.canvas.height);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const xf = (p.xf = transformFor(v, p, view));
  const ready = view === "axial" ? v.loaded[index] === 1 : v.loadedSlices > 0;
  if (ready) {
    paintBase(v, p, view, index);
    ctx.imageSmoothingEnabled = v.model.get("smooth");
    const dw = xf.cols * xf.cmm * xf.s, dh = xf.rows * xf.rmm * xf.s;
    ctx.drawImage(p.base, xf.ox, xf.oy, dw, dh);
    for (const li of p.spec.layers) {
      if (st.hidden_layers.includes(v.layers[li].name)) continue;
      const entry = paintOverlay(v, p, li, view, index);
      ctx.globalAlpha = isOutline(v, li) ? 1 : st.opacity;
      ctx.imageSmoothingEnabled = v.layers[li].kind === "heatmap" && v.model.get("smooth");
      ctx.drawImage(entry.canvas, xf.ox, xf.oy, dw, dh);
      ctx.globalAlpha = 1;
    }
    drawReferenceLines(v, p, view, xf);
    drawMeasurements(v, p, view, index, xf);
  }
  const n = v.shape[axis];
  p.title.textContent = p.spec.title || "";
  p.info.textContent = (n > 1 ? `${viewName(view)} ${sliceNumber(v, view, index)}/${n}` : "") + (ready ? "" : " · loading…");
  p.zinfo.textContent = `W ${fmtData(st.window, v.digits)} L ${fmtData(st.level, v.digits)}${st.invert ? " inv" : ""}`;
}

// the status line and the toolbar's controls follow the state
function updateStatus(v) {
  const st = v.st, dom = v.dom, digits = v.digits;
  const view = panelView(v, v.panels[0]);
  const axis = axisOf(view);
  const n = v.shape[axis];
  dom.sliceInput.max = String(n);
  if (document.activeElement !== dom.sliceInput) dom.sliceInput.value = String(sliceNumber(v, view, st.position[axis]));
  dom.sliceRow.hidden = n < 2;
  const parts = [n > 1 ? `${viewName(view)} ${sliceNumber(v, view, st.position[axis])}/${n}` : "",
    `W ${fmtData(st.window, digits)} L ${fmtData(st.level, digits)}${st.preset ? " (" + st.preset.replace("_", " ") + ")" : ""}`,
    `zoom ${Math.round(st.zoom * 100)}%`];
  if (st.invert) parts.push("inverted");
  if (v.hover) parts.push(v.hover);
  if (v.loadedSlices < v.shape[0]) parts.push(`loading ${Math.round((100 * v.loadedSlices) / v.shape[0])}%`);
  dom.status.textContent = parts.filter((x) => x).join(" · ");
  dom.presetSel.value = v.presets.some((p) => p.name === st.preset) ? st.preset : "";
  dom.viewSel.value = st.view;
  dom.invertBtn.classList.toggle("radnb-on", st.invert);
  for (const tool of TOOLS) if (dom.toolBtns[tool.name]) dom.toolBtns[tool.name].classList.toggle("radnb-on", st.tool === tool.name);
  if (dom.playBtn) dom.playBtn.textContent = st.playing ? "❚❚ Stop" : "▶ Cine";
  if (dom.styleSel) dom.styleSel.value = st.overlay_style;
  if (dom.opacityInput && document.activeElement !== dom.opacityInput) dom.opacityInput.value = String(st.opacity);
}

export function renderAll(v) {
  v.frameRequested = false;
  const perf = v.perf;
  const t0 = performance.now();
  for (const p of v.panels) drawPanel(v, p);
  updateStatus(v);
  const t1 = performance.now();
  const view0 = panelView(v, v.panels[0]);
  const firstReady = view0 === "axial" ? v.loaded[v.st.position[0]] === 1 : v.loadedSlices > 0;
  if (firstReady && perf.firstPaint === null) perf.firstPaint = t1;
  if (firstReady) {
    perf.frames.push(t1 - t0);
    if (perf.pending !== null) { perf.latencies.push(t1 - perf.pending); perf.pending = null; }
    if (perf.frames.length > 2000) perf.frames.splice(0, 1000);
    if (perf.latencies.length > 2000) perf.latencies.splice(0, 1000);
  }
}

export function requestRender(v, eventTime) {
  if (eventTime !== undefined && v.perf.pending === null) v.perf.pending = eventTime;
  if (v.frameRequested) return;
  v.frameRequested = true;
  requestAnimationFrame(() => renderAll(v));
}
