// The viewer's state (`v.st`) and its way to the Python model: pushed once an interaction settles
// (not on every mouse move), and the saved picture. (Python -> browser: events.js's listenToModel.)

import { renderAll, requestRender } from "./render.js";
import { sameArray } from "./util.js";

const SYNC_DELAY_MS = 250; // send state to Python once the interaction has settled
const SNAPSHOT_DELAY_MS = 800;
export const SCALAR_KEYS = ["view", "window", "level", "preset", "invert", "zoom", "opacity", "overlay_style", "tool"];
export const ARRAY_KEYS = ["position", "pan", "hidden_layers"];
export const SYNCED_KEYS = [...SCALAR_KEYS, ...ARRAY_KEYS, "measurements", "playing", "smooth"];

export function initialState(model) {
  const st = { playing: false };
  for (const key of SCALAR_KEYS) st[key] = model.get(key);
  for (const key of ARRAY_KEYS) st[key] = model.get(key).slice();
  st.measurements = model.get("measurements").slice();
  return st;
}

export function scheduleSync(v) {
  clearTimeout(v.timers.sync);
  v.timers.sync = setTimeout(() => pushState(v), SYNC_DELAY_MS);
}

export function pushState(v) {
  const model = v.model, st = v.st;
  clearTimeout(v.timers.sync);
  v.timers.sync = null;
  const changes = {};
  for (const key of SCALAR_KEYS) if (model.get(key) !== st[key]) changes[key] = st[key];
  for (const key of ARRAY_KEYS) if (!sameArray(model.get(key), st[key])) changes[key] = st[key].slice();
  if (JSON.stringify(model.get("measurements")) !== JSON.stringify(st.measurements)) changes.measurements = st.measurements.map((m) => ({ ...m }));
  if (model.get("playing") !== st.playing) changes.playing = st.playing;
  if (Object.keys(changes).length) {
    model.set(changes);
    model.save_changes();
    scheduleSnapshot(v);
  }
}

// a discrete change (button, key, end of a drag): draw and tell Python now
export function commit(v) {
  requestRender(v);
  pushState(v);
}

// keep the saved picture up to date (what a reopened notebook shows): the panels as on screen,
// side by side, once an interaction has settled; set on the model only (a notebook save stores it)
export function scheduleSnapshot(v) {
  clearTimeout(v.timers.snapshot);
  v.timers.snapshot = setTimeout(() => takeSnapshot(v), SNAPSHOT_DELAY_MS);
}

function takeSnapshot(v) {
  v.timers.snapshot = null;
  if (!v.liveData || v.loadedSlices < v.shape[0]) return;
  renderAll(v);
  const panels = v.panels;
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
    v.model.set("_snapshot", shot.toDataURL("image/jpeg", 0.85));
    v.model.save_changes();
  } catch (err) { /* no kernel: the saved picture stays as it was */ }
}
