// Overlays: label maps (one colour per class, fill or outline) and heat maps over the image,
// their colour tables, and the legend with one toggle per layer.

import { extract, planeShape } from "./geometry.js";
import { fmt, h, rgbaWord } from "./util.js";

// label/heat colour tables (uint32 RGBA words), one per layer
export function overlayLuts(layers) {
  return layers.map((l) => {
    const lut = new Uint32Array(256);
    if (l.kind === "labels") {
      for (const [val, c] of Object.entries(l.colors)) lut[Number(val)] = rgbaWord(c[0], c[1], c[2]);
      const fallback = l.color || [255, 255, 0];
      for (let val = 1; val < 256; val++) if (!lut[val]) lut[val] = rgbaWord(fallback[0], fallback[1], fallback[2]);
    } else if (l.kind === "heatmap") {
      // opacity grows with the heat (png.heat_alpha): 0 paints nothing, and values just above 0
      // are as invisible as 0, so exact zeros leave no sharp-edged islands in the picture
      for (let val = 1; val < 256; val++) lut[val] = rgbaWord(l.cmap[val][0], l.cmap[val][1], l.cmap[val][2], val);
    }
    return lut;
  });
}

export const isOutline = (v, li) => v.layers[li].kind === "labels" && v.st.overlay_style === "outline";

// layer `li` of panel `p` painted at image resolution on an offscreen canvas (cached per slice)
export function paintOverlay(v, p, li, view, index) {
  const key = `${view}|${index}|${v.st.overlay_style}|${v.loadedSlices}`;
  let entry = p.overlays.get(li);
  const [rows, cols] = planeShape(v, view);
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
  const plane = (entry.plane = extract(v, li, view, index, entry.plane));
  const out = new Uint32Array(entry.data.data.buffer);
  const t = v.overlayLut[li];
  const outline = isOutline(v, li);
  for (let r = 0, i = 0; r < rows; r++)
    for (let c = 0; c < cols; c++, i++) {
      const val = plane[i];
      if (!val) { out[i] = 0; continue; }
      if (outline) {
        const edge = r === 0 || c === 0 || r === rows - 1 || c === cols - 1 ||
          plane[i - 1] !== val || plane[i + 1] !== val || plane[i - cols] !== val || plane[i + cols] !== val;
        out[i] = edge ? t[val] : 0;
      } else out[i] = t[val];
    }
  entry.ctx.putImageData(entry.data, 0, 0);
  return entry;
}

// one legend entry per overlay layer: a visibility toggle, the name and its colour swatches
export function buildLegend(v, onToggle) {
  for (const id of v.overlayIds) {
    const l = v.layers[id];
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
    cb.checked = !v.st.hidden_layers.includes(l.name);
    cb.addEventListener("change", () => {
      v.st.hidden_layers = cb.checked ? v.st.hidden_layers.filter((n) => n !== l.name) : [...v.st.hidden_layers, l.name];
      onToggle();
    });
    const text = l.kind === "heatmap" ? `${l.name} ${fmt(l.vmin, 2)}–${fmt(l.vmax, 2)}` : l.name;
    v.dom.legend.appendChild(h("label", { class: "radnb-legend-item", "data-layer": l.name }, [cb, h("span", { text }), ...swatches]));
  }
  v.dom.legend.hidden = v.overlayIds.length === 0;
}

// after Python changed hidden_layers: the toggles follow
export function syncLegend(v) {
  for (const cb of v.dom.legend.querySelectorAll("input")) cb.checked = !v.st.hidden_layers.includes(cb.dataset.layer);
}
