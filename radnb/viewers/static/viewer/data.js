// Pixel data: asked for once with a "load" message; Python (or the server extension) answers with
// binary chunks of slices, the slice on screen first, which fill the typed arrays in `v.vols`.

import { refreshHover } from "./hover.js";
import { requestRender } from "./render.js";
import { scheduleSnapshot } from "./state.js";
import { renderNotices } from "./ui.js";
import { bytesOf, bytesPerVoxel } from "./util.js";

export function onChunk(v, msg, buffers) {
  if (!msg || msg.type !== "chunk" || msg.rid !== v.rid) return;
  const layer = v.layers[msg.layer];
  const target = new Uint8Array(v.vols[msg.layer].buffer);
  target.set(bytesOf(buffers[0]), msg.z0 * v.sliceVoxels * bytesPerVoxel(layer.dtype));
  v.perf.chunks.push([performance.now(), buffers[0].byteLength]);
  const key = String(msg.z0);
  const got = (v.chunkParts.get(key) || 0) + 1;
  v.chunkParts.set(key, got);
  if (got !== v.layers.length) return;
  const Z = v.shape[0];
  for (let z = msg.z0; z < msg.z1; z++) if (!v.loaded[z]) { v.loaded[z] = 1; v.loadedSlices++; }
  if (v.loadedSlices === Z && v.perf.loadedAll === null) v.perf.loadedAll = performance.now();
  for (const p of v.panels) p.overlayKey.clear();
  if (!v.liveData) {
    v.liveData = true;
    v.dom.snapshotImg.hidden = true;
    v.dom.grid.hidden = false;
    renderNotices(v);
  }
  refreshHover(v);
  requestRender(v);
  if (v.loadedSlices === Z) scheduleSnapshot(v);
}

export function requestData(v) {
  try {
    v.model.send({ type: "load", rid: v.rid, first: v.st.position[0] });
  } catch (err) {
    // a notebook reopened without its kernel: the saved picture stays on screen
  }
}
