// radnb slice viewer: plain ES module for anywidget (no build step, no network).
// Python (radnb/viewers/viewer.py) sends pixel data once as binary chunks; this file windows
// it with a lookup table on a Canvas2D, so scrolling and window/level never wait for the kernel.
// Interaction follows OHIF's defaults: wheel/arrow keys scroll, left-drag window/level,
// right-drag zoom, middle- or shift-drag pan, 1-9 presets, i invert, space reset.
// Slice order follows PACS: axial slice 1 is the most superior one, and the wheel (or the down
// arrow) moves towards the feet, whatever the order of the slices in the array.

const VIEWS = ["axial", "coronal", "sagittal"];
const SYNC_DELAY_MS = 250; // send state to Python once the interaction has settled
const TOOL_LABELS = { wl: "W/L", pan: "Pan", zoom: "Zoom", length: "Length", ellipse: "Ellipse", rectangle: "Rect" };

function bytesOf(buf) {
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function allocate(dtype, n) {
  if (dtype === "int16") return new Int16Array(n);
  if (dtype === "float32") return new Float32Array(n);
  if (dtype === "rgb8") return new Uint8Array(n * 3);
  return new Uint8Array(n);
}

function sameArray(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// DICOM PS3.3 VOI functions scaled to 0..255 with the same operations as Python's
// display.window_to_uint8, so both give the same grey levels. Python picks the function
// (_voi_function): LINEAR (C.11.2.1.2.1, needs width >= 1) for images of whole numbers,
// LINEAR_EXACT (C.11.2.1.3.2, any width > 0) for images with fractional values.
function voiGrey(x, center, width, exact) {
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

function rgbaWord(r, g, b, a = 255) {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(digits);
}

// window, level and pixel values: a fixed number of decimals for small-range data
// (steady while dragging: "W 0.980 L 0.500"), else as fmt
function fmtData(v, digits) {
  if (digits > 1 && typeof v === "number" && Number.isFinite(v)) return v.toFixed(digits);
  return fmt(v);
}

function roiStats(plane, rows, cols, p0, p1, kind, sp) {
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
        const v = plane[i * cols + j];
        n++; sum += v;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
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

function render({ model, el }) {
  const shape = model.get("_shape");
  const [Z, H, W] = shape;
  const spacing = model.get("_spacing");
  const layers = model.get("_layers");
  const panelsSpec = model.get("_panels");
  const units = model.get("_units") === "raw" ? "" : model.get("_units"); // "raw": no physical unit to name
  const superiorFirst = model.get("_superior_first");
  const geometry = model.get("_geometry") || {};
  const spacingKnown = geometry.spacing_known !== false;
  const voiExact = model.get("_voi_function") === "LINEAR_EXACT";
  const wlScale = model.get("_wl_scale") || {};
  const minWidth = wlScale.min_width || 1;
  const digits = wlScale.digits || 1;
  const rid = Math.random().toString(36).slice(2);
  const voxels = Z * H * W;
  const sliceVoxels = H * W;
  const vols = layers.map((l) => allocate(l.dtype, voxels));
  const chunkParts = new Map(); // "z0" -> number of layers received
  const loaded = new Uint8Array(Z);
  let loadedSlices = 0;
  const perf = { renderStart: performance.now(), firstPaint: null, loadedAll: null, chunks: [], frames: [], latencies: [], pending: null };

  // label/heat colour tables (uint32 RGBA words)
  const overlayLut = layers.map((l) => {
    const lut = new Uint32Array(256);
    if (l.kind === "labels") {
      for (const [v, c] of Object.entries(l.colors)) lut[Number(v)] = rgbaWord(c[0], c[1], c[2]);
      const fallback = l.color || [255, 255, 0];
      for (let v = 1; v < 256; v++) if (!lut[v]) lut[v] = rgbaWord(fallback[0], fallback[1], fallback[2]);
    } else if (l.kind === "heatmap") {
      // opacity grows with the heat (static.heat_alpha): 0 paints nothing, and values just above 0
      // are as invisible as 0, so exact zeros leave no sharp-edged islands in the picture
      for (let v = 1; v < 256; v++) lut[v] = rgbaWord(l.cmap[v][0], l.cmap[v][1], l.cmap[v][2], v);
    }
    return lut;
  });

  const st = {
    position: model.get("position").slice(),
    view: model.get("view"),
    window: model.get("window"),
    level: model.get("level"),
    preset: model.get("preset"),
    invert: model.get("invert"),
    zoom: model.get("zoom"),
    pan: model.get("pan").slice(),
    opacity: model.get("opacity"),
    overlay_style: model.get("overlay_style"),
    hidden_layers: model.get("hidden_layers").slice(),
    tool: model.get("tool"),
    playing: false,
    measurements: model.get("measurements").slice(),
  };
  let hover = null;
  let drawing = null; // measurement being drawn

  // ---------- DOM ----------
  // right-drag zooms: keep JupyterLab's context menu (and its keyboard shortcuts) out of the viewer
  const root = h("div", { class: "radnb-viewer", tabindex: "0", "data-lm-suppress-shortcuts": "true", "data-jp-suppress-context-menu": "true" });
  root.style.setProperty("--radnb-height", model.get("_height") + "px");
  const toolbar = h("div", { class: "radnb-toolbar" });
  const notices = h("div", { class: "radnb-notices" });
  const grid = h("div", { class: "radnb-grid" });
  const legend = h("div", { class: "radnb-legend" });
  const status = h("div", { class: "radnb-status", role: "status" });
  const headerBox = h("div", { class: "radnb-header", hidden: "" });
  // a slice slider, so scrolling needs neither a mouse wheel nor the arrow keys
  const sliceInput = h("input", { class: "radnb-slice", type: "range", min: "1", step: "1", title: "Slice (wheel, ↑/↓)" });
  const sliceRow = h("div", { class: "radnb-slice-row" }, [sliceInput]);
  // the last picture (saved widget state): shown until pixel data arrives from the kernel
  const snapshotImg = h("img", { class: "radnb-snapshot", alt: "Saved picture of this viewer" });
  let liveData = false, waitingTooLong = false;
  if (model.get("_snapshot")) { snapshotImg.src = model.get("_snapshot"); grid.hidden = true; } else snapshotImg.hidden = true;
  root.append(toolbar, notices, snapshotImg, grid, sliceRow, legend, status, headerBox);
  el.appendChild(root);

  const fixedViews = panelsSpec.some((p) => p.view);
  const viewSel = h("select", { class: "radnb-view", title: "Orientation" });
  for (const v of VIEWS) viewSel.appendChild(h("option", { value: v, text: v[0].toUpperCase() + v.slice(1) }));
  viewSel.addEventListener("change", () => { st.view = viewSel.value; commit(); });
  if (!fixedViews && Z > 1) toolbar.appendChild(viewSel);

  const presetSel = h("select", { class: "radnb-preset", title: "Window preset (keys 1-9)" });
  const presets = model.get("_presets");
  presetSel.appendChild(h("option", { value: "", text: "custom W/L" }));
  presets.forEach((p, k) => presetSel.appendChild(h("option", { value: p.name, text: `${k < 9 ? k + 1 + " " : ""}${p.name.replace("_", " ")}` })));
  presetSel.addEventListener("change", () => { if (presetSel.value) applyPreset(presetSel.value); });
  if (presets.length) toolbar.appendChild(presetSel);

  const button = (text, title, fn, cls = "") => {
    const b = h("button", { class: "radnb-btn " + cls, title, text, type: "button" });
    b.addEventListener("click", (e) => { e.preventDefault(); fn(); root.focus({ preventScroll: true }); });
    toolbar.appendChild(b);
    return b;
  };
  const invertBtn = button("Invert", "Invert grey scale (i)", () => { st.invert = !st.invert; commit(); }, "radnb-invert");
  button("Reset", "Reset window, zoom and pan (space)", () => resetView(), "radnb-reset");
  const playBtn = Z > 1 ? button("▶ Cine", "Play through the slices", () => togglePlay(), "radnb-play") : null;
  const toolBtns = {};
  const toolGroup = h("span", { class: "radnb-tools" });
  for (const [tool, label] of Object.entries(TOOL_LABELS)) {
    const b = h("button", { class: "radnb-btn radnb-tool", "data-tool": tool, text: label, type: "button", title: `Left-drag tool: ${label}` });
    b.addEventListener("click", () => { st.tool = tool; commit(); });
    toolBtns[tool] = b;
    toolGroup.appendChild(b);
  }
  toolbar.appendChild(toolGroup);
  button("Clear", "Remove all measurements", () => { st.measurements = []; commit(); }, "radnb-clear");

  const overlayIds = [...new Set(panelsSpec.flatMap((p) => p.layers))];
  let styleSel = null, opacityInput = null;
  if (overlayIds.length) {
    styleSel = h("select", { class: "radnb-style", title: "Label map style" });
    for (const s of ["fill", "outline"]) styleSel.appendChild(h("option", { value: s, text: s }));
    styleSel.addEventListener("change", () => { st.overlay_style = styleSel.value; commit(); });
    opacityInput = h("input", { class: "radnb-opacity", type: "range", min: "0", max: "1", step: "0.05", title: "Overlay opacity" });
    opacityInput.addEventListener("input", () => { st.opacity = Number(opacityInput.value); requestRender(); scheduleSync(); });
    toolbar.append(h("span", { class: "radnb-label", text: "overlay" }), styleSel, opacityInput);
  }
  const headerBtn = model.get("_header").length ? button("Header", "DICOM header (identifying values hidden)", () => {
    headerBox.hidden = !headerBox.hidden;
  }, "radnb-header-btn") : null;

  for (const id of overlayIds) {
    const l = layers[id];
    const swatches = [];
    if (l.kind === "labels") {
      // one swatch per class, in the colour it is drawn with (several classes: numbered)
      const classes = l.classes || Object.keys(l.colors).map(Number);
      for (const c of classes) {
        const col = l.colors[String(c)] || l.color;
        const sw = h("span", { class: "radnb-swatch", "data-class": String(c), title: `${l.name}, class ${c}` });
        sw.style.background = `rgb(${col.join(",")})`;
        swatches.push(sw);
        if (classes.length > 1) swatches.push(h("span", { class: "radnb-class", text: String(c) }));
      }
    } else {
      const sw = h("span", { class: "radnb-swatch" });
      sw.style.background = `linear-gradient(to right, ${[0, 64, 128, 192, 255].map((k) => `rgba(${l.cmap[k].join(",")},${(k / 255).toFixed(2)})`).join(",")})`;
      swatches.push(sw);
    }
    const cb = h("input", { type: "checkbox", class: "radnb-layer-toggle", "data-layer": l.name });
    cb.checked = !st.hidden_layers.includes(l.name);
    cb.addEventListener("change", () => {
      st.hidden_layers = cb.checked ? st.hidden_layers.filter((n) => n !== l.name) : [...st.hidden_layers, l.name];
      commit();
    });
    const text = l.kind === "heatmap" ? `${l.name} ${fmt(l.vmin, 2)}–${fmt(l.vmax, 2)}` : l.name;
    legend.appendChild(h("label", { class: "radnb-legend-item", "data-layer": l.name }, [cb, h("span", { text }), ...swatches]));
  }
  legend.hidden = overlayIds.length === 0;

  // ---------- panels ----------
  const panels = panelsSpec.map((spec, index) => {
    const cell = h("div", { class: "radnb-panel" });
    const canvas = h("canvas", { class: "radnb-canvas", "data-panel": String(index) });
    const title = h("div", { class: "radnb-corner radnb-tl" });
    const info = h("div", { class: "radnb-corner radnb-bl" });
    const zinfo = h("div", { class: "radnb-corner radnb-br" });
    cell.append(canvas, title, info, zinfo);
    grid.appendChild(cell);
    const base = document.createElement("canvas");
    return {
      spec, index, cell, canvas, title, info, zinfo,
      ctx: canvas.getContext("2d"),
      base, baseCtx: base.getContext("2d", { willReadFrequently: true }),
      imageData: null, plane: null, overlays: new Map(), overlayKey: new Map(), xf: null,
    };
  });
  grid.style.gridTemplateColumns = `repeat(${panels.length}, minmax(0, 1fr))`;

  const panelView = (p) => p.spec.view || st.view;
  const axisOf = (view) => VIEWS.indexOf(view);
  const planeShape = (view) => (view === "axial" ? [H, W] : view === "coronal" ? [Z, W] : [Z, H]);
  const planeSpacing = (view) => (view === "axial" ? [spacing[1], spacing[2]] : view === "coronal" ? [spacing[0], spacing[2]] : [spacing[0], spacing[1]]);
  // PACS order: axial numbers count from the head; "down" (wheel, ↓) is one step towards the feet
  const reversed = (view) => view === "axial" && !superiorFirst;
  const sliceNumber = (view, index) => (reversed(view) ? shape[axisOf(view)] - index : index + 1);
  const indexOfNumber = (view, number) => (reversed(view) ? shape[axisOf(view)] - number : number - 1);
  const down = (view) => (reversed(view) ? -1 : 1);
  const viewName = (view) => view[0].toUpperCase() + view.slice(1);

  // the 2D plane of layer `li` for `view` at `index`; rows run head -> feet for coronal/sagittal
  function extract(li, view, index, out) {
    const vol = vols[li];
    const rgb = layers[li].dtype === "rgb8" ? 3 : 1;
    if (view === "axial") return vol.subarray(index * sliceVoxels * rgb, (index + 1) * sliceVoxels * rgb);
    const [rows, cols] = planeShape(view);
    if (!out || out.length !== rows * cols * rgb) out = new vol.constructor(rows * cols * rgb);
    for (let r = 0; r < rows; r++) {
      const z = superiorFirst ? r : Z - 1 - r;
      if (view === "coronal") {
        const start = (z * sliceVoxels + index * W) * rgb;
        out.set(vol.subarray(start, start + W * rgb), r * cols * rgb);
      } else {
        const zoff = z * sliceVoxels + index;
        for (let c = 0; c < cols; c++) {
          const src = (zoff + c * W) * rgb, dst = (r * cols + c) * rgb;
          for (let k = 0; k < rgb; k++) out[dst + k] = vol[src + k];
        }
      }
    }
    return out;
  }

  // ---------- window LUT ----------
  let lut = null, lutKey = "";
  const dtype0 = layers[0].dtype;
  function greyLut() {
    const key = `${st.window}|${st.level}|${st.invert}`;
    if (key === lutKey) return lut;
    lutKey = key;
    if (dtype0 === "int16") {
      lut = lut || new Uint32Array(65536);
      for (let v = -32768; v < 32768; v++) {
        const g = voiGrey(v, st.level, st.window, voiExact);
        lut[v + 32768] = GREY_RGBA[st.invert ? 255 - g : g];
      }
    } else if (dtype0 === "uint8") {
      lut = new Uint32Array(256);
      for (let v = 0; v < 256; v++) {
        const g = voiGrey(v, st.level, st.window, voiExact);
        lut[v] = GREY_RGBA[st.invert ? 255 - g : g];
      }
    }
    return lut;
  }

  function paintBase(p, view, index) {
    const [rows, cols] = planeShape(view);
    if (p.base.width !== cols || p.base.height !== rows || !p.imageData) {
      p.base.width = cols; p.base.height = rows;
      p.imageData = p.baseCtx.createImageData(cols, rows);
    }
    const plane = (p.plane = extract(0, view, index, p.plane));
    const out = new Uint32Array(p.imageData.data.buffer);
    const n = rows * cols;
    if (dtype0 === "int16") {
      const t = greyLut();
      for (let i = 0; i < n; i++) out[i] = t[plane[i] + 32768];
    } else if (dtype0 === "uint8") {
      const t = greyLut();
      for (let i = 0; i < n; i++) out[i] = t[plane[i]];
    } else if (dtype0 === "rgb8") {
      for (let i = 0, k = 0; i < n; i++, k += 3) out[i] = rgbaWord(plane[k], plane[k + 1], plane[k + 2]);
    } else {
      // float32 data: no lookup table; per pixel, exactly as window_to_uint8 computes it
      const c = st.level, w = st.window, inv = st.invert;
      for (let i = 0; i < n; i++) {
        const g = voiGrey(plane[i], c, w, voiExact);
        out[i] = GREY_RGBA[inv ? 255 - g : g];
      }
    }
    p.baseCtx.putImageData(p.imageData, 0, 0);
  }

  function paintOverlay(p, li, view, index) {
    const key = `${view}|${index}|${st.overlay_style}|${loadedSlices}`;
    let entry = p.overlays.get(li);
    const [rows, cols] = planeShape(view);
    if (!entry) {
      const c = document.createElement("canvas");
      entry = { canvas: c, ctx: c.getContext("2d"), data: null, plane: null };
      p.overlays.set(li, entry);
    }
    if (p.overlayKey.get(li) === key) return entry;
    p.overlayKey.set(li, key);
    if (entry.canvas.width !== cols || entry.canvas.height !== rows || !entry.data) {
      entry.canvas.width = cols; entry.canvas.height = rows;
      entry.data = entry.ctx.createImageData(cols, rows);
    }
    const plane = (entry.plane = extract(li, view, index, entry.plane));
    const out = new Uint32Array(entry.data.data.buffer);
    const t = overlayLut[li];
    const outline = layers[li].kind === "labels" && st.overlay_style === "outline";
    for (let r = 0, i = 0; r < rows; r++)
      for (let c = 0; c < cols; c++, i++) {
        const v = plane[i];
        if (!v) { out[i] = 0; continue; }
        if (outline) {
          const edge = r === 0 || c === 0 || r === rows - 1 || c === cols - 1 ||
            plane[i - 1] !== v || plane[i + 1] !== v || plane[i - cols] !== v || plane[i + cols] !== v;
          out[i] = edge ? t[v] : 0;
        } else out[i] = t[v];
      }
    entry.ctx.putImageData(entry.data, 0, 0);
    return entry;
  }

  function transformFor(p, view) {
    const [rows, cols] = planeShape(view);
    const [rmm, cmm] = planeSpacing(view);
    const cw = p.canvas.clientWidth || 300, ch = p.canvas.clientHeight || 300;
    const physW = cols * cmm, physH = rows * rmm;
    const s = Math.min(cw / physW, ch / physH) * st.zoom; // CSS px per mm
    const ox = cw / 2 - (physW / 2 - st.pan[0]) * s;
    const oy = ch / 2 - (physH / 2 - st.pan[1]) * s;
    return { s, ox, oy, rmm, cmm, rows, cols, cw, ch };
  }

  function toImage(p, sx, sy) {
    const xf = p.xf;
    if (!xf) return null;
    return [(sy - xf.oy) / xf.s / xf.rmm, (sx - xf.ox) / xf.s / xf.cmm]; // continuous (row, col)
  }
  function toScreen(xf, r, c) {
    return [xf.ox + c * xf.cmm * xf.s, xf.oy + r * xf.rmm * xf.s];
  }

  // (row, col) on a plane -> voxel [z, y, x]
  function voxelOf(view, index, r, c) {
    const zr = superiorFirst ? r : Z - 1 - r;
    if (view === "axial") return [index, r, c];
    if (view === "coronal") return [zr, index, c];
    return [zr, c, index];
  }
  function planeOfVoxel(view, vox) {
    const r = superiorFirst ? vox[0] : Z - 1 - vox[0];
    if (view === "axial") return [vox[1], vox[2]];
    if (view === "coronal") return [r, vox[2]];
    return [r, vox[1]];
  }

  function sliceReady(view, index) {
    return view === "axial" ? loaded[index] === 1 : loadedSlices === Z;
  }

  function drawPanel(p) {
    const view = panelView(p);
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
    const xf = (p.xf = transformFor(p, view));
    const ready = view === "axial" ? loaded[index] === 1 : loadedSlices > 0;
    if (ready) {
      paintBase(p, view, index);
      ctx.imageSmoothingEnabled = model.get("smooth");
      const dw = xf.cols * xf.cmm * xf.s, dh = xf.rows * xf.rmm * xf.s;
      ctx.drawImage(p.base, xf.ox, xf.oy, dw, dh);
      for (const li of p.spec.layers) {
        if (st.hidden_layers.includes(layers[li].name)) continue;
        const entry = paintOverlay(p, li, view, index);
        const outline = layers[li].kind === "labels" && st.overlay_style === "outline";
        ctx.globalAlpha = outline ? 1 : st.opacity;
        ctx.imageSmoothingEnabled = layers[li].kind === "heatmap" && model.get("smooth");
        ctx.drawImage(entry.canvas, xf.ox, xf.oy, dw, dh);
        ctx.globalAlpha = 1;
      }
      drawReferenceLines(p, view, xf);
      drawMeasurements(p, view, index, xf);
    }
    const n = shape[axis];
    p.title.textContent = p.spec.title || "";
    p.info.textContent = (n > 1 ? `${viewName(view)} ${sliceNumber(view, index)}/${n}` : "") + (ready ? "" : " · loading…");
    p.zinfo.textContent = `W ${fmtData(st.window, digits)} L ${fmtData(st.level, digits)}${st.invert ? " inv" : ""}`;
  }

  function drawReferenceLines(p, view, xf) {
    if (panels.length < 2 || !panels.some((q) => panelView(q) !== view)) return;
    const ctx = p.ctx;
    const [r, c] = planeOfVoxel(view, st.position);
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

  function measurementText(m) {
    if (m.kind === "length") return `${m.value.length_mm.toFixed(1)} mm`;
    const u = units ? " " + units : "";
    return `mean ${fmtData(m.value.mean, digits)}${u} SD ${fmtData(m.value.sd, digits)}${u} · ${m.value.area_mm2.toFixed(1)} mm²`;
  }

  function drawMeasurements(p, view, index, xf) {
    const ctx = p.ctx;
    const all = drawing ? [...st.measurements, drawing] : st.measurements;
    for (const m of all) {
      if (m.view !== view || m.index !== index) continue;
      const [x0, y0] = toScreen(xf, m.p0[0], m.p0[1]);
      const [x1, y1] = toScreen(xf, m.p1[0], m.p1[1]);
      ctx.strokeStyle = "#00e5ff";
      ctx.fillStyle = "#00e5ff";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      if (m.kind === "length") { ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); }
      else if (m.kind === "rectangle") ctx.rect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      else ctx.ellipse((x0 + x1) / 2, (y0 + y1) / 2, Math.abs(x1 - x0) / 2, Math.abs(y1 - y0) / 2, 0, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.font = "12px sans-serif";
      ctx.fillText(measurementText(m), Math.max(x0, x1) + 4, Math.min(y0, y1) - 4 < 12 ? Math.max(y0, y1) + 14 : Math.min(y0, y1) - 4);
    }
  }

  function updateStatus() {
    const view = panelView(panels[0]);
    const axis = axisOf(view);
    sliceInput.max = String(shape[axis]);
    if (document.activeElement !== sliceInput) sliceInput.value = String(sliceNumber(view, st.position[axis]));
    sliceRow.hidden = shape[axis] < 2;
    const parts = [shape[axis] > 1 ? `${viewName(view)} ${sliceNumber(view, st.position[axis])}/${shape[axis]}` : "",
      `W ${fmtData(st.window, digits)} L ${fmtData(st.level, digits)}${st.preset ? " (" + st.preset.replace("_", " ") + ")" : ""}`,
      `zoom ${Math.round(st.zoom * 100)}%`];
    if (st.invert) parts.push("inverted");
    if (hover) parts.push(hover);
    if (loadedSlices < Z) parts.push(`loading ${Math.round((100 * loadedSlices) / Z)}%`);
    status.textContent = parts.filter((x) => x).join(" · ");
    presetSel.value = presets.some((p) => p.name === st.preset) ? st.preset : "";
    viewSel.value = st.view;
    invertBtn.classList.toggle("radnb-on", st.invert);
    for (const [tool, b] of Object.entries(toolBtns)) b.classList.toggle("radnb-on", st.tool === tool);
    if (playBtn) playBtn.textContent = st.playing ? "❚❚ Stop" : "▶ Cine";
    if (styleSel) styleSel.value = st.overlay_style;
    if (opacityInput && document.activeElement !== opacityInput) opacityInput.value = String(st.opacity);
  }

  let frameRequested = false;
  function renderAll() {
    frameRequested = false;
    const t0 = performance.now();
    for (const p of panels) drawPanel(p);
    updateStatus();
    const t1 = performance.now();
    const view0 = panelView(panels[0]);
    const firstReady = view0 === "axial" ? loaded[st.position[0]] === 1 : loadedSlices > 0;
    if (firstReady && perf.firstPaint === null) perf.firstPaint = t1;
    if (firstReady) {
      perf.frames.push(t1 - t0);
      if (perf.pending !== null) { perf.latencies.push(t1 - perf.pending); perf.pending = null; }
      if (perf.frames.length > 2000) perf.frames.splice(0, 1000);
      if (perf.latencies.length > 2000) perf.latencies.splice(0, 1000);
    }
  }
  function requestRender(eventTime) {
    if (eventTime !== undefined && perf.pending === null) perf.pending = eventTime;
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(renderAll);
  }

  // ---------- state sync ----------
  let syncTimer = null;
  function scheduleSync() {
    clearTimeout(syncTimer);
    syncTimer = setTimeout(pushState, SYNC_DELAY_MS);
  }
  function pushState() {
    clearTimeout(syncTimer);
    syncTimer = null;
    const changes = {};
    for (const key of ["view", "window", "level", "preset", "invert", "zoom", "opacity", "overlay_style", "tool"])
      if (model.get(key) !== st[key]) changes[key] = st[key];
    for (const key of ["position", "pan", "hidden_layers"]) if (!sameArray(model.get(key), st[key])) changes[key] = st[key].slice();
    if (JSON.stringify(model.get("measurements")) !== JSON.stringify(st.measurements)) changes.measurements = st.measurements.map((m) => ({ ...m }));
    if (model.get("playing") !== st.playing) changes.playing = st.playing;
    if (Object.keys(changes).length) {
      model.set(changes);
      model.save_changes();
      scheduleSnapshot();
    }
  }
  function commit() { requestRender(); pushState(); }

  // keep the saved picture up to date (what a reopened notebook shows): the panels as on screen,
  // side by side, once an interaction has settled; set on the model only (a notebook save stores it)
  let snapshotTimer = null;
  function scheduleSnapshot() {
    clearTimeout(snapshotTimer);
    snapshotTimer = setTimeout(takeSnapshot, 800);
  }
  function takeSnapshot() {
    snapshotTimer = null;
    if (!liveData || loadedSlices < Z) return;
    renderAll();
    const ws = panels.map((p) => p.canvas.width), hgt = Math.max(...panels.map((p) => p.canvas.height));
    if (!hgt) return;
    const shot = document.createElement("canvas");
    shot.width = ws.reduce((a, b) => a + b, 0) + 4 * (panels.length - 1);
    shot.height = hgt;
    const sctx = shot.getContext("2d");
    sctx.fillStyle = "#000";
    sctx.fillRect(0, 0, shot.width, shot.height);
    let x = 0;
    const dpr = window.devicePixelRatio || 1;
    sctx.font = `${Math.round(12 * dpr)}px sans-serif`;
    sctx.fillStyle = "#fff";
    for (const p of panels) {
      sctx.drawImage(p.canvas, x, 0);
      const label = [p.title.textContent, p.info.textContent, p.zinfo.textContent].filter((t) => t).join(" · ");
      sctx.fillText(label, x + 6 * dpr, 16 * dpr);
      x += p.canvas.width + 4;
    }
    try {
      model.set("_snapshot", shot.toDataURL("image/jpeg", 0.85));
      model.save_changes();
    } catch (err) { /* no kernel: the saved picture stays as it was */ }
  }

  function pullState() {
    for (const key of ["view", "window", "level", "preset", "invert", "zoom", "opacity", "overlay_style", "tool"]) st[key] = model.get(key);
    st.position = model.get("position").slice();
    st.pan = model.get("pan").slice();
    st.hidden_layers = model.get("hidden_layers").slice();
    st.measurements = model.get("measurements").slice();
    for (const cb of legend.querySelectorAll("input")) cb.checked = !st.hidden_layers.includes(cb.dataset.layer);
    if (model.get("playing") !== st.playing) { if (model.get("playing")) startPlay(); else stopPlay(); }
    requestRender();
  }
  const syncedKeys = ["position", "view", "window", "level", "preset", "invert", "zoom", "pan", "opacity", "overlay_style", "hidden_layers", "tool", "measurements", "playing", "smooth"];
  const onChange = () => { if (syncTimer === null && !dragging) pullState(); };
  for (const key of syncedKeys) model.on(`change:${key}`, onChange);
  const onHeader = () => renderHeader();
  model.on("change:_header", onHeader);
  model.on("change:_phi_shown", onHeader);
  model.on("change:_notices", renderNotices);

  // ---------- actions ----------
  function applyPreset(name) {
    const p = presets.find((q) => q.name === name);
    if (!p) return;
    st.window = p.width; st.level = p.center; st.preset = p.name;
    commit();
  }
  function resetView() {
    const init = model.get("_initial");
    st.window = init.window; st.level = init.level; st.preset = init.preset; st.invert = init.invert;
    st.zoom = 1; st.pan = [0, 0];
    commit();
  }
  function step(view, delta, eventTime) {
    const axis = axisOf(view);
    const next = Math.min(shape[axis] - 1, Math.max(0, st.position[axis] + delta));
    if (next === st.position[axis]) return;
    st.position = st.position.slice();
    st.position[axis] = next;
    // draw now rather than at the next animation frame: a wheel notch shows its slice at once
    if (eventTime !== undefined && perf.pending === null) perf.pending = eventTime;
    refreshHover();
    renderAll();
    scheduleSync();
  }
  let playTimer = null;
  function startPlay() {
    stopPlay();
    st.playing = true;
    const view = panelView(panels[0]);
    const axis = axisOf(view);
    const dir = down(view);
    playTimer = setInterval(() => {
      st.position = st.position.slice();
      st.position[axis] = (st.position[axis] + dir + shape[axis]) % shape[axis];
      refreshHover();
      requestRender();
    }, 1000 / Math.max(1, model.get("fps")));
    requestRender();
  }
  function stopPlay() {
    if (playTimer) clearInterval(playTimer);
    playTimer = null;
    st.playing = false;
    requestRender();
  }
  function togglePlay() {
    if (st.playing) stopPlay(); else startPlay();
    pushState();
  }

  sliceInput.addEventListener("input", (e) => {
    const view = panelView(panels[0]);
    step(view, indexOfNumber(view, Number(sliceInput.value)) - st.position[axisOf(view)], e.timeStamp);
  });

  // ---------- mouse ----------
  let dragging = null;
  let wheelAccum = 0;
  let lastPointer = null; // where the mouse rests, so the readout follows a wheel scroll
  function refreshHover() { if (lastPointer) updateHover(lastPointer.p, lastPointer.x, lastPointer.y); }
  // window/level change per screen pixel of drag, from Python (display.window_controls): 4 HU for
  // CT, else 1/256 of the image's percentile range (about 0.004 on a [0, 1] image)
  const wlSensitivity = wlScale.step || 1;

  function panelOf(target) {
    return panels.find((p) => p.canvas === target);
  }
  function localXY(p, e) {
    const rect = p.canvas.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  function onPointerDown(e) {
    const p = panelOf(e.target);
    if (!p) return;
    root.focus({ preventScroll: true });
    e.preventDefault();
    const [x, y] = localXY(p, e);
    let mode = st.tool;
    if (e.button === 2) mode = "zoom";
    else if (e.button === 1 || (e.button === 0 && e.shiftKey)) mode = "pan";
    if (st.playing) stopPlay();
    dragging = { p, mode, x0: x, y0: y, window: st.window, level: st.level, zoom: st.zoom, pan: st.pan.slice(), moved: false };
    if (["length", "ellipse", "rectangle"].includes(mode)) {
      const view = panelView(p);
      const pt = toImage(p, x, y);
      drawing = { kind: mode, view, index: st.position[axisOf(view)], p0: pt, p1: pt.slice(), value: null };
    }
    p.canvas.setPointerCapture(e.pointerId);
  }

  function onPointerMove(e) {
    const p = panelOf(e.target);
    if (!p) return;
    const [x, y] = localXY(p, e);
    lastPointer = { p, x, y };
    if (!dragging) { focusUnlessTyping(); updateHover(p, x, y); requestRender(); return; }
    const d = dragging;
    const dx = x - d.x0, dy = y - d.y0;
    if (Math.abs(dx) + Math.abs(dy) > 2) d.moved = true;
    if (d.mode === "wl") {
      st.window = Math.max(minWidth, d.window + dx * wlSensitivity);
      st.level = d.level + dy * wlSensitivity;
      st.preset = "";
    } else if (d.mode === "zoom") {
      st.zoom = Math.min(50, Math.max(0.05, d.zoom * Math.exp(-dy * 0.01)));
    } else if (d.mode === "pan") {
      const s = p.xf ? p.xf.s : 1;
      st.pan = [d.pan[0] + dx / s, d.pan[1] + dy / s];
    } else if (drawing) {
      drawing.p1 = toImage(p, x, y);
      drawing.value = measure(drawing);
    }
    updateHover(p, x, y);
    requestRender(e.timeStamp);
  }

  function onPointerUp(e) {
    if (!dragging) return;
    const d = dragging;
    dragging = null;
    try { d.p.canvas.releasePointerCapture(e.pointerId); } catch (err) { /* already released */ }
    if (drawing) {
      if (d.moved) {
        drawing.value = measure(drawing);
        st.measurements = [...st.measurements, drawing];
      }
      drawing = null;
    } else if (!d.moved && d.mode === "wl" && panels.length > 1) {
      // a click (no drag) in a multi-view layout moves the cross-reference point there
      const view = panelView(d.p);
      const pt = toImage(d.p, d.x0, d.y0);
      const [rows, cols] = planeShape(view);
      if (pt && pt[0] >= 0 && pt[1] >= 0 && pt[0] < rows && pt[1] < cols) {
        st.position = voxelOf(view, st.position[axisOf(view)], Math.floor(pt[0]), Math.floor(pt[1]));
      }
    }
    commit();
  }

  function measure(m) {
    const [rows, cols] = planeShape(m.view);
    const sp = planeSpacing(m.view);
    if (m.kind === "length") {
      const dr = (m.p1[0] - m.p0[0]) * sp[0], dc = (m.p1[1] - m.p0[1]) * sp[1];
      return { length_mm: Math.hypot(dr, dc) };
    }
    const plane = extract(0, m.view, m.index, null);
    return roiStats(plane, rows, cols, m.p0, m.p1, m.kind, sp);
  }

  function updateHover(p, x, y) {
    const view = panelView(p);
    const pt = toImage(p, x, y);
    const [rows, cols] = planeShape(view);
    if (!pt || pt[0] < 0 || pt[1] < 0 || pt[0] >= rows || pt[1] >= cols) { hover = null; return; }
    const r = Math.floor(pt[0]), c = Math.floor(pt[1]);
    const index = st.position[axisOf(view)];
    const vox = voxelOf(view, index, r, c);
    const i = (vox[0] * H + vox[1]) * W + vox[2];
    let value;
    if (!loaded[vox[0]]) value = "loading";
    else if (layers[0].dtype === "rgb8") value = `RGB ${vols[0][3 * i]},${vols[0][3 * i + 1]},${vols[0][3 * i + 2]}`;
    else value = `${fmtData(vols[0][i], digits)}${units ? " " + units : ""}`;
    const extras = [];
    for (const li of p.spec.layers) {
      const v = vols[li][i];
      if (layers[li].kind === "labels" && v) extras.push(`${layers[li].name} ${v}`);
      if (layers[li].kind === "heatmap") extras.push(`${layers[li].name} ${fmt(layers[li].vmin + (v / 255) * (layers[li].vmax - layers[li].vmin), 2)}`);
    }
    // where: patient coordinates (DICOM LPS, mm) from ImagePositionPatient and ImageOrientationPatient
    // when the header gives them, else millimetres from the first voxel, else pixel indices only
    let where = "";
    const pat = patientXYZ(vox);
    if (pat) where = `x ${pat[0].toFixed(1)}, y ${pat[1].toFixed(1)}, z ${pat[2].toFixed(1)} mm · `;
    else if (spacingKnown) where = `${(vox[2] * spacing[2]).toFixed(1)}, ${(vox[1] * spacing[1]).toFixed(1)} mm from the top-left corner · `;
    const sliceText = Z > 1 ? ` slice ${sliceNumber("axial", vox[0])}` : "";
    hover = `${where}col ${vox[2]} row ${vox[1]}${sliceText} = ${value}${extras.length ? " · " + extras.join(", ") : ""}`;
    root.dataset.hover = hover;
  }

  function patientXYZ(vox) {
    const pos = geometry.positions, o = geometry.orientation;
    if (!pos || !o || !pos[vox[0]]) return null;
    const p0 = pos[vox[0]];
    // ImageOrientationPatient: o[0..2] = direction of increasing column index, o[3..5] = of increasing row
    return [0, 1, 2].map((k) => p0[k] + vox[2] * spacing[2] * o[k] + vox[1] * spacing[1] * o[3 + k]);
  }

  function onWheel(e) {
    const p = panelOf(e.target);
    if (!p) return;
    e.preventDefault();
    if (st.playing) stopPlay();
    const dy = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaY;
    let steps = 0;
    if (Math.abs(dy) >= 50) steps = Math.sign(dy);
    else {
      wheelAccum += dy;
      if (Math.abs(wheelAccum) >= 50) { steps = Math.sign(wheelAccum); wheelAccum = 0; }
    }
    if (steps) step(panelView(p), steps * down(panelView(p)), e.timeStamp);
  }

  function onKey(e) {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    const view = panelView(panels[0]);
    let handled = true;
    const d = down(view);
    if (e.key === "ArrowUp") step(view, -d, e.timeStamp);
    else if (e.key === "ArrowDown") step(view, d, e.timeStamp);
    else if (e.key === "PageUp") step(view, -10 * d, e.timeStamp);
    else if (e.key === "PageDown") step(view, 10 * d, e.timeStamp);
    else if (e.key === "Home") step(view, -shape[axisOf(view)] * d, e.timeStamp);
    else if (e.key === "End") step(view, shape[axisOf(view)] * d, e.timeStamp);
    else if (e.key === "i" || e.key === "I") { st.invert = !st.invert; commit(); }
    else if (e.key === " ") resetView();
    else if (/^[1-9]$/.test(e.key) && presets[Number(e.key) - 1]) applyPreset(presets[Number(e.key) - 1].name);
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }

  grid.addEventListener("pointerdown", onPointerDown);
  grid.addEventListener("pointermove", onPointerMove);
  grid.addEventListener("pointerup", onPointerUp);
  grid.addEventListener("pointercancel", onPointerUp);
  grid.addEventListener("pointerleave", () => { if (!dragging) { hover = null; lastPointer = null; requestRender(); } });
  grid.addEventListener("wheel", onWheel, { passive: false });
  grid.addEventListener("contextmenu", (e) => e.preventDefault());
  grid.addEventListener("auxclick", (e) => e.preventDefault());
  root.addEventListener("keydown", onKey);
  // keys work as soon as the pointer is over the images, unless the user is typing somewhere else
  function focusUnlessTyping() {
    const a = document.activeElement;
    if (a === root) return;
    const typing = a && a !== document.body && !root.contains(a) &&
      (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.isContentEditable);
    if (!typing) root.focus({ preventScroll: true });
  }
  grid.addEventListener("pointerenter", focusUnlessTyping);

  // ---------- header & notices ----------
  function renderHeader() {
    const rows = model.get("_header");
    headerBox.replaceChildren();
    // no switch here: identifying values reach the browser only when the code asks for them
    // (show(..., show_phi=True) or viewer.show_phi = True), so the notebook records who revealed them
    const hs = model.get("_header_slice");
    const inst = rows.find((r) => r.keyword === "InstanceNumber");
    const which = Z > 1 && hs >= 0 ? `Header of axial slice ${sliceNumber("axial", hs)}${inst ? " (InstanceNumber " + inst.value + ")" : ""}. ` : "";
    const phiText = model.get("_phi_shown")
      ? "Identifying values are SHOWN because the code set show_phi=True."
      : "Identifying values are hidden; only code can show them (show_phi=True).";
    headerBox.appendChild(h("div", { class: "radnb-phi" + (model.get("_phi_shown") ? " radnb-phi-shown" : "") }, [h("span", { text: which + phiText })]));
    const table = h("table", { class: "radnb-header-table" });
    for (const r of rows) {
      const tr = h("tr", { class: r.phi ? "radnb-phi-row" : "" }, [
        h("td", { text: r.tag }), h("td", { text: r.keyword || r.name }), h("td", { text: r.vr }), h("td", { text: r.value }),
      ]);
      table.appendChild(tr);
    }
    headerBox.appendChild(table);
  }
  function renderNotices() {
    const list = model.get("_notices").slice();
    if (!liveData && waitingTooLong && snapshotImg.src)
      list.unshift("This is the picture saved with the notebook. Run the cell again to scroll, window and measure.");
    notices.replaceChildren(...list.map((n) => h("div", { class: "radnb-notice", text: "⚠ " + n })));
    notices.hidden = list.length === 0;
  }
  renderHeader();
  renderNotices();
  if (headerBtn === null) headerBox.hidden = true;

  // ---------- data ----------
  function onCustom(msg, buffers) {
    if (!msg || msg.type !== "chunk" || msg.rid !== rid) return;
    const layer = layers[msg.layer];
    const bytesPerVoxel = layer.dtype === "int16" ? 2 : layer.dtype === "float32" ? 4 : layer.dtype === "rgb8" ? 3 : 1;
    const target = new Uint8Array(vols[msg.layer].buffer);
    target.set(bytesOf(buffers[0]), msg.z0 * sliceVoxels * bytesPerVoxel);
    perf.chunks.push([performance.now(), buffers[0].byteLength]);
    const key = String(msg.z0);
    const got = (chunkParts.get(key) || 0) + 1;
    chunkParts.set(key, got);
    if (got === layers.length) {
      for (let z = msg.z0; z < msg.z1; z++) if (!loaded[z]) { loaded[z] = 1; loadedSlices++; }
      if (loadedSlices === Z && perf.loadedAll === null) perf.loadedAll = performance.now();
      for (const p of panels) p.overlayKey.clear();
      if (!liveData) { liveData = true; snapshotImg.hidden = true; grid.hidden = false; renderNotices(); }
      refreshHover();
      requestRender();
      if (loadedSlices === Z) scheduleSnapshot();
    }
  }
  model.on("msg:custom", onCustom);
  try {
    model.send({ type: "load", rid, first: st.position[0] });
  } catch (err) {
    // a notebook reopened without its kernel: the saved picture below stays on screen
  }
  // No pixel data yet: show the last picture saved with the notebook; say so if no kernel answers.
  const savedTimer = setTimeout(() => { if (!liveData) { waitingTooLong = true; renderNotices(); } }, 3000);

  const resize = new ResizeObserver(() => requestRender());
  resize.observe(grid);
  requestRender();

  // ---------- test/benchmark hook (read-only view of the state) ----------
  const api = {
    rid, perf, st, shape, panels,
    loaded: () => loadedSlices,
    // draw now and force rasterisation (pixel read-back): the full cost of one frame, for benchmarks
    drawFrame() {
      renderAll();
      panels[0].ctx.getImageData(0, 0, 1, 1);
    },
    // grey value painted for image pixel (row, col) of panel k (before scaling to the screen)
    basePixel(k, r, c) {
      const p = panels[k];
      return Array.from(p.baseCtx.getImageData(c, r, 1, 1).data);
    },
    // screen position (CSS px, relative to the canvas) of image pixel centre (row, col) of panel k
    screenOf(k, r, c) {
      const p = panels[k];
      return toScreen(p.xf, r + 0.5, c + 0.5);
    },
  };
  root.__radnb = api;
  window.__radnbViewers = window.__radnbViewers || [];
  window.__radnbViewers.push(api);

  return () => {
    clearTimeout(syncTimer);
    clearTimeout(snapshotTimer);
    clearTimeout(savedTimer);
    stopPlay();
    resize.disconnect();
    for (const key of syncedKeys) model.off(`change:${key}`, onChange);
    model.off("change:_header", onHeader);
    model.off("change:_phi_shown", onHeader);
    model.off("change:_notices", renderNotices);
    model.off("msg:custom", onCustom);
    const k = window.__radnbViewers.indexOf(api);
    if (k >= 0) window.__radnbViewers.splice(k, 1);
  };
}

export default { render };
