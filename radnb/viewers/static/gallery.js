// radnb gallery: a grid of uint8 thumbnails (one binary buffer) with captions; click opens one large.
// (Joined with the modules it imports into one module by radnb/viewers/assets.py, like viewer.js.)

import { bytesOf } from "./viewer/util.js";

function paint(canvas, bytes, rows, cols, rgb) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  const out = img.data;
  const n = rows * cols;
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    if (rgb) { out[o] = bytes[3 * i]; out[o + 1] = bytes[3 * i + 1]; out[o + 2] = bytes[3 * i + 2]; }
    else { out[o] = out[o + 1] = out[o + 2] = bytes[i]; }
    out[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "radnb-gallery";
  const grid = document.createElement("div");
  grid.className = "radnb-gallery-grid";
  const modal = document.createElement("div");
  modal.className = "radnb-modal";
  modal.hidden = true;
  root.append(grid, modal);
  el.appendChild(root);

  function drawGrid() {
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `repeat(${model.get("columns")}, minmax(0, 1fr))`;
    const all = bytesOf(model.get("_thumbs"));
    for (const t of model.get("_tiles")) {
      const tile = document.createElement("div");
      tile.className = "radnb-tile" + (t.mark ? " radnb-" + t.mark : "");
      tile.dataset.index = String(t.index);
      const canvas = document.createElement("canvas");
      const size = t.rows * t.cols * (t.rgb ? 3 : 1);
      paint(canvas, all.subarray(t.offset, t.offset + size), t.rows, t.cols, t.rgb);
      const cap = document.createElement("div");
      cap.className = "radnb-caption";
      cap.textContent = t.caption;
      tile.append(canvas, cap);
      tile.addEventListener("click", () => { model.set("selected", t.index); model.save_changes(); });
      grid.appendChild(tile);
    }
  }

  function drawLarge() {
    const info = model.get("_large");
    if (!info || info.index === undefined) { modal.hidden = true; modal.replaceChildren(); return; }
    const canvas = document.createElement("canvas");
    paint(canvas, bytesOf(model.get("_large_bytes")), info.rows, info.cols, info.rgb);
    const cap = document.createElement("div");
    cap.className = "radnb-caption";
    cap.textContent = `#${info.index}: ${info.caption}`;
    const close = document.createElement("button");
    close.className = "radnb-btn";
    close.textContent = "Close";
    close.addEventListener("click", () => { model.set("selected", -1); model.save_changes(); });
    modal.replaceChildren(canvas, cap, close);
    modal.hidden = false;
  }

  drawGrid();
  drawLarge();
  model.on("change:_tiles", drawGrid);
  model.on("change:columns", drawGrid);
  model.on("change:_large", drawLarge);
  return () => {
    model.off("change:_tiles", drawGrid);
    model.off("change:columns", drawGrid);
    model.off("change:_large", drawLarge);
  };
}

export default { render };
