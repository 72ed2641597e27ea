// radnb slice viewer: plain ES modules for anywidget (no build step, no network).
// Python (radnb/viewers/viewer.py) sends pixel data once as binary chunks; this file windows
// it with a lookup table on a Canvas2D, so scrolling and window/level never wait for the kernel.
// Interaction follows OHIF's defaults: wheel/arrow keys scroll, left-drag window/level,
// right-drag zoom, middle- or shift-drag pan, 1-9 presets, i invert, space reset.
// Slice order follows PACS: axial slice 1 is the most superior one, and the wheel (or the down
// arrow) moves towards the feet, whatever the order of the slices in the array.
//
// This entry module builds the viewer from the modules in viewer/ (one concern each: state and
// sync, events, rendering, tools, overlays, measurements, ...). anywidget takes one module string,
// so radnb/viewers/assets.py joins them (in import order) into one module for the notebook and for
// the JupyterLab extension (served at /radnb/static/viewer.js); a browser can also import this file
// as it is. A new left-drag tool: a module exporting tool objects (see viewer/tools.js) and one
// entry in the registerTool list below (and its name in radnb/viewers/tools.py).

import { stopPlay } from "./viewer/actions.js";
import { onChunk, requestData } from "./viewer/data.js";
import { attachEvents, listenToModel } from "./viewer/events.js";
import { toScreen } from "./viewer/geometry.js";
import { measurementTools } from "./viewer/measurements.js";
import { navigationTools } from "./viewer/navigation.js";
import { overlayLuts } from "./viewer/overlays.js";
import { renderAll, requestRender } from "./viewer/render.js";
import { initialState } from "./viewer/state.js";
import { TOOLS, registerTool } from "./viewer/tools.js";
import { buildDom, renderHeader, renderNotices } from "./viewer/ui.js";
import { allocate } from "./viewer/util.js";

// the left-drag tools, in toolbar order
for (const tool of [...navigationTools, ...measurementTools]) registerTool(tool);

const SAVED_PICTURE_NOTICE_MS = 3000;

// everything the modules share about one viewer on the page
function viewerContext(model) {
  const shape = model.get("_shape");
  const [Z, H, W] = shape;
  const layers = model.get("_layers");
  const geometry = model.get("_geometry") || {};
  const wlScale = model.get("_wl_scale") || {};
  const panelsSpec = model.get("_panels");
  return {
    model, shape, layers, panelsSpec, geometry,
    spacing: model.get("_spacing"),
    units: model.get("_units") === "raw" ? "" : model.get("_units"), // "raw": no physical unit to name
    superiorFirst: model.get("_superior_first"),
    spacingKnown: geometry.spacing_known !== false,
    voiExact: model.get("_voi_function") === "LINEAR_EXACT",
    minWidth: wlScale.min_width || 1,
    digits: wlScale.digits || 1,
    // window/level change per screen pixel of drag, from Python (display.window_controls): 4 HU for
    // CT, else 1/256 of the image's percentile range (about 0.004 on a [0, 1] image)
    wlSensitivity: wlScale.step || 1,
    presets: model.get("_presets"),
    overlayIds: [...new Set(panelsSpec.flatMap((p) => p.layers))],
    rid: Math.random().toString(36).slice(2),
    sliceVoxels: H * W,
    vols: layers.map((l) => allocate(l.dtype, Z * H * W)),
    overlayLut: overlayLuts(layers),
    chunkParts: new Map(), // "z0" -> number of layers received
    loaded: new Uint8Array(Z),
    loadedSlices: 0,
    perf: { renderStart: performance.now(), firstPaint: null, loadedAll: null, chunks: [], frames: [], latencies: [], pending: null },
    st: initialState(model),
    hover: null, // status-line readout of the pixel under the pointer
    lastPointer: null, // where the mouse rests, so the readout follows a wheel scroll
    dragging: null,
    drawing: null, // measurement being drawn
    wheelAccum: 0,
    liveData: false,
    waitingTooLong: false,
    frameRequested: false,
    greyLut: { key: "", lut: null },
    timers: { sync: null, snapshot: null, saved: null, play: null },
    dom: null,
    panels: [],
  };
}

function render({ model, el }) {
  const v = viewerContext(model);
  buildDom(v, el);
  attachEvents(v);
  const stopListening = listenToModel(v);
  const onHeader = () => renderHeader(v);
  const onNotices = () => renderNotices(v);
  model.on("change:_header", onHeader);
  model.on("change:_phi_shown", onHeader);
  model.on("change:_notices", onNotices);
  renderHeader(v);
  renderNotices(v);
  if (v.dom.headerBtn === null) v.dom.headerBox.hidden = true;

  const onCustom = (msg, buffers) => onChunk(v, msg, buffers);
  model.on("msg:custom", onCustom);
  requestData(v);
  // No pixel data yet: show the last picture saved with the notebook; say so if no kernel answers.
  v.timers.saved = setTimeout(() => { if (!v.liveData) { v.waitingTooLong = true; renderNotices(v); } }, SAVED_PICTURE_NOTICE_MS);

  const resize = new ResizeObserver(() => requestRender(v));
  resize.observe(v.dom.grid);
  requestRender(v);

  // ---------- test/benchmark hook (read-only view of the state) ----------
  const panels = v.panels;
  const api = {
    rid: v.rid, perf: v.perf, st: v.st, shape: v.shape, panels,
    tools: TOOLS.map((t) => t.name),
    loaded: () => v.loadedSlices,
    // draw now and force rasterisation (pixel read-back): the full cost of one frame, for benchmarks
    drawFrame() {
      renderAll(v);
      panels[0].ctx.getImageData(0, 0, 1, 1);
    },
    // grey value painted for image pixel (row, col) of panel k (before scaling to the screen)
    basePixel(k, r, c) {
      return Array.from(panels[k].baseCtx.getImageData(c, r, 1, 1).data);
    },
    // screen position (CSS px, relative to the canvas) of image pixel centre (row, col) of panel k
    screenOf(k, r, c) {
      return toScreen(panels[k].xf, r + 0.5, c + 0.5);
    },
  };
  v.dom.root.__radnb = api;
  window.__radnbViewers = window.__radnbViewers || [];
  window.__radnbViewers.push(api);

  return () => {
    clearTimeout(v.timers.sync);
    clearTimeout(v.timers.snapshot);
    clearTimeout(v.timers.saved);
    stopPlay(v);
    resize.disconnect();
    stopListening();
    model.off("change:_header", onHeader);
    model.off("change:_phi_shown", onHeader);
    model.off("change:_notices", onNotices);
    model.off("msg:custom", onCustom);
    const k = window.__radnbViewers.indexOf(api);
    if (k >= 0) window.__radnbViewers.splice(k, 1);
  };
}

export { TOOLS };
export default { render };
