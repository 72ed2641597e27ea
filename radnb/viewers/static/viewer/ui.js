// The viewer's DOM: toolbar (views, presets, buttons, one button per registered tool, overlay
// controls), the panels with their corner texts, the header table and the notices.

import { applyPreset, resetView, togglePlay, toggleInvert } from "./actions.js";
import { sliceNumber } from "./geometry.js";
import { buildLegend } from "./overlays.js";
import { requestRender } from "./render.js";
import { commit, scheduleSync } from "./state.js";
import { TOOLS } from "./tools.js";
import { VIEWS, h } from "./util.js";

export function buildDom(v, el) {
  const model = v.model;
  // right-drag zooms: keep JupyterLab's context menu (and its keyboard shortcuts) out of the viewer
  const root = h("div", { class: "radnb-viewer", tabindex: "0", "data-lm-suppress-shortcuts": "true", "data-jp-suppress-context-menu": "true" });
  root.style.setProperty("--radnb-height", model.get("_height") + "px");
  const dom = (v.dom = {
    root,
    toolbar: h("div", { class: "radnb-toolbar" }),
    notices: h("div", { class: "radnb-notices" }),
    grid: h("div", { class: "radnb-grid" }),
    legend: h("div", { class: "radnb-legend" }),
    status: h("div", { class: "radnb-status", role: "status" }),
    headerBox: h("div", { class: "radnb-header", hidden: "" }),
    // a slice slider, so scrolling needs neither a mouse wheel nor the arrow keys
    sliceInput: h("input", { class: "radnb-slice", type: "range", min: "1", step: "1", title: "Slice (wheel, ↑/↓)" }),
    // the last picture (saved widget state): shown until pixel data arrives from the kernel
    snapshotImg: h("img", { class: "radnb-snapshot", alt: "Saved picture of this viewer" }),
    toolBtns: {},
  });
  dom.sliceRow = h("div", { class: "radnb-slice-row" }, [dom.sliceInput]);
  if (model.get("_snapshot")) { dom.snapshotImg.src = model.get("_snapshot"); dom.grid.hidden = true; } else dom.snapshotImg.hidden = true;
  root.append(dom.toolbar, dom.notices, dom.snapshotImg, dom.grid, dom.sliceRow, dom.legend, dom.status, dom.headerBox);
  el.appendChild(root);
  buildToolbar(v);
  buildLegend(v, () => commit(v));
  buildPanels(v);
}

function buildToolbar(v) {
  const dom = v.dom, toolbar = dom.toolbar, st = v.st;
  const fixedViews = v.panelsSpec.some((p) => p.view);
  dom.viewSel = h("select", { class: "radnb-view", title: "Orientation" });
  for (const view of VIEWS) dom.viewSel.appendChild(h("option", { value: view, text: view[0].toUpperCase() + view.slice(1) }));
  dom.viewSel.addEventListener("change", () => { st.view = dom.viewSel.value; commit(v); });
  if (!fixedViews && v.shape[0] > 1) toolbar.appendChild(dom.viewSel);

  dom.presetSel = h("select", { class: "radnb-preset", title: "Window preset (keys 1-9)" });
  dom.presetSel.appendChild(h("option", { value: "", text: "custom W/L" }));
  v.presets.forEach((p, k) => dom.presetSel.appendChild(h("option", { value: p.name, text: `${k < 9 ? k + 1 + " " : ""}${p.name.replace("_", " ")}` })));
  dom.presetSel.addEventListener("change", () => { if (dom.presetSel.value) applyPreset(v, dom.presetSel.value); });
  if (v.presets.length) toolbar.appendChild(dom.presetSel);

  const button = (text, title, fn, cls = "") => {
    const b = h("button", { class: "radnb-btn " + cls, title, text, type: "button" });
    b.addEventListener("click", (e) => { e.preventDefault(); fn(); dom.root.focus({ preventScroll: true }); });
    toolbar.appendChild(b);
    return b;
  };
  dom.invertBtn = button("Invert", "Invert grey scale (i)", () => toggleInvert(v), "radnb-invert");
  button("Reset", "Reset window, zoom and pan (space)", () => resetView(v), "radnb-reset");
  dom.playBtn = v.shape[0] > 1 ? button("▶ Cine", "Play through the slices", () => togglePlay(v), "radnb-play") : null;
  const toolGroup = h("span", { class: "radnb-tools" });
  for (const tool of TOOLS) {
    const b = h("button", { class: "radnb-btn radnb-tool", "data-tool": tool.name, text: tool.label, type: "button", title: tool.title || `Left-drag tool: ${tool.label}` });
    b.addEventListener("click", () => { st.tool = tool.name; commit(v); });
    dom.toolBtns[tool.name] = b;
    toolGroup.appendChild(b);
  }
  toolbar.appendChild(toolGroup);
  button("Clear", "Remove all measurements", () => { st.measurements = []; commit(v); }, "radnb-clear");

  dom.styleSel = null;
  dom.opacityInput = null;
  if (v.overlayIds.length) {
    dom.styleSel = h("select", { class: "radnb-style", title: "Label map style" });
    for (const s of ["fill", "outline"]) dom.styleSel.appendChild(h("option", { value: s, text: s }));
    dom.styleSel.addEventListener("change", () => { st.overlay_style = dom.styleSel.value; commit(v); });
    dom.opacityInput = h("input", { class: "radnb-opacity", type: "range", min: "0", max: "1", step: "0.05", title: "Overlay opacity" });
    dom.opacityInput.addEventListener("input", () => { st.opacity = Number(dom.opacityInput.value); requestRender(v); scheduleSync(v); });
    toolbar.append(h("span", { class: "radnb-label", text: "overlay" }), dom.styleSel, dom.opacityInput);
  }
  dom.headerBtn = v.model.get("_header").length
    ? button("Header", "DICOM header (identifying values hidden)", () => { dom.headerBox.hidden = !dom.headerBox.hidden; }, "radnb-header-btn")
    : null;
}

function buildPanels(v) {
  const grid = v.dom.grid;
  v.panels = v.panelsSpec.map((spec, index) => {
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
  grid.style.gridTemplateColumns = `repeat(${v.panels.length}, minmax(0, 1fr))`;
}

export function renderHeader(v) {
  const model = v.model, box = v.dom.headerBox;
  const rows = model.get("_header");
  box.replaceChildren();
  // no switch here: identifying values reach the browser only when the code asks for them
  // (show(..., show_phi=True) or viewer.show_phi = True), so the notebook records who revealed them
  const hs = model.get("_header_slice");
  const inst = rows.find((r) => r.keyword === "InstanceNumber");
  const which = v.shape[0] > 1 && hs >= 0
    ? `Header of axial slice ${sliceNumber(v, "axial", hs)}${inst ? " (InstanceNumber " + inst.value + ")" : ""}. ` : "";
  const phiText = model.get("_phi_shown")
    ? "Identifying values are SHOWN because the code set show_phi=True."
    : "Identifying values are hidden; only code can show them (show_phi=True).";
  box.appendChild(h("div", { class: "radnb-phi" + (model.get("_phi_shown") ? " radnb-phi-shown" : "") }, [h("span", { text: which + phiText })]));
  const table = h("table", { class: "radnb-header-table" });
  for (const r of rows) {
    table.appendChild(h("tr", { class: r.phi ? "radnb-phi-row" : "" }, [
      h("td", { text: r.tag }), h("td", { text: r.keyword || r.name }), h("td", { text: r.vr }), h("td", { text: r.value }),
    ]));
  }
  box.appendChild(table);
}

export function renderNotices(v) {
  const list = v.model.get("_notices").slice();
  if (!v.liveData && v.waitingTooLong && v.dom.snapshotImg.src)
    list.unshift("This is the picture saved with the notebook. Run the cell again to scroll, window and measure.");
  v.dom.notices.replaceChildren(...list.map((n) => h("div", { class: "radnb-notice", text: "⚠ " + n })));
  v.dom.notices.hidden = list.length === 0;
}
