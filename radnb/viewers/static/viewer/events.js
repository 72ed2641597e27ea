// Events: pointer drags (dispatched to the tool registry), wheel and keys in the browser, and
// trait changes coming from Python.

import { applyPreset, resetView, startPlay, step, stopPlay, toggleInvert } from "./actions.js";
import { axisOf, down, indexOfNumber, panelView } from "./geometry.js";
import { updateHover } from "./hover.js";
import { syncLegend } from "./overlays.js";
import { requestRender } from "./render.js";
import { ARRAY_KEYS, SCALAR_KEYS, SYNCED_KEYS, commit } from "./state.js";
import { toolForButton, toolNamed } from "./tools.js";

const WHEEL_NOTCH = 50; // pixel-mode wheel delta per slice step (trackpads accumulate)

function panelOf(v, target) {
  return v.panels.find((p) => p.canvas === target);
}

function localXY(p, e) {
  const rect = p.canvas.getBoundingClientRect();
  return [e.clientX - rect.left, e.clientY - rect.top];
}

// keys work as soon as the pointer is over the images, unless the user is typing somewhere else
function focusUnlessTyping(v) {
  const root = v.dom.root;
  const a = document.activeElement;
  if (a === root) return;
  const typing = a && a !== document.body && !root.contains(a) &&
    (a.tagName === "TEXTAREA" || a.tagName === "INPUT" || a.isContentEditable);
  if (!typing) root.focus({ preventScroll: true });
}

function onPointerDown(v, e) {
  const p = panelOf(v, e.target);
  if (!p) return;
  v.dom.root.focus({ preventScroll: true });
  e.preventDefault();
  const [x, y] = localXY(p, e);
  const tool = toolNamed(toolForButton(v, e));
  if (!tool) return;
  if (v.st.playing) stopPlay(v);
  const st = v.st;
  v.dragging = { p, tool, mode: tool.name, x0: x, y0: y, window: st.window, level: st.level, zoom: st.zoom, pan: st.pan.slice(), moved: false };
  if (tool.start) tool.start(v, v.dragging);
  p.canvas.setPointerCapture(e.pointerId);
}

function onPointerMove(v, e) {
  const p = panelOf(v, e.target);
  if (!p) return;
  const [x, y] = localXY(p, e);
  v.lastPointer = { p, x, y };
  const d = v.dragging;
  if (!d) { focusUnlessTyping(v); updateHover(v, p, x, y); requestRender(v); return; }
  const dx = x - d.x0, dy = y - d.y0;
  if (Math.abs(dx) + Math.abs(dy) > 2) d.moved = true;
  d.tool.move(v, d, dx, dy, x, y);
  updateHover(v, p, x, y);
  requestRender(v, e.timeStamp);
}

function onPointerUp(v, e) {
  const d = v.dragging;
  if (!d) return;
  v.dragging = null;
  try { d.p.canvas.releasePointerCapture(e.pointerId); } catch (err) { /* already released */ }
  if (d.tool.end) d.tool.end(v, d);
  commit(v);
}

function onWheel(v, e) {
  const p = panelOf(v, e.target);
  if (!p) return;
  e.preventDefault();
  if (v.st.playing) stopPlay(v);
  const dy = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaY;
  let steps = 0;
  if (Math.abs(dy) >= WHEEL_NOTCH) steps = Math.sign(dy);
  else {
    v.wheelAccum += dy;
    if (Math.abs(v.wheelAccum) >= WHEEL_NOTCH) { steps = Math.sign(v.wheelAccum); v.wheelAccum = 0; }
  }
  const view = panelView(v, p);
  if (steps) step(v, view, steps * down(v, view), e.timeStamp);
}

function onKey(v, e) {
  if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
  const view = panelView(v, v.panels[0]);
  const d = down(v, view), n = v.shape[axisOf(view)], t = e.timeStamp;
  let handled = true;
  if (e.key === "ArrowUp") step(v, view, -d, t);
  else if (e.key === "ArrowDown") step(v, view, d, t);
  else if (e.key === "PageUp") step(v, view, -10 * d, t);
  else if (e.key === "PageDown") step(v, view, 10 * d, t);
  else if (e.key === "Home") step(v, view, -n * d, t);
  else if (e.key === "End") step(v, view, n * d, t);
  else if (e.key === "i" || e.key === "I") toggleInvert(v);
  else if (e.key === " ") resetView(v);
  else if (/^[1-9]$/.test(e.key) && v.presets[Number(e.key) - 1]) applyPreset(v, v.presets[Number(e.key) - 1].name);
  else handled = false;
  if (handled) { e.preventDefault(); e.stopPropagation(); }
}

export function attachEvents(v) {
  const grid = v.dom.grid;
  grid.addEventListener("pointerdown", (e) => onPointerDown(v, e));
  grid.addEventListener("pointermove", (e) => onPointerMove(v, e));
  grid.addEventListener("pointerup", (e) => onPointerUp(v, e));
  grid.addEventListener("pointercancel", (e) => onPointerUp(v, e));
  grid.addEventListener("pointerleave", () => { if (!v.dragging) { v.hover = null; v.lastPointer = null; requestRender(v); } });
  grid.addEventListener("wheel", (e) => onWheel(v, e), { passive: false });
  grid.addEventListener("contextmenu", (e) => e.preventDefault());
  grid.addEventListener("auxclick", (e) => e.preventDefault());
  grid.addEventListener("pointerenter", () => focusUnlessTyping(v));
  v.dom.root.addEventListener("keydown", (e) => onKey(v, e));
  v.dom.sliceInput.addEventListener("input", (e) => {
    const view = panelView(v, v.panels[0]);
    step(v, view, indexOfNumber(v, view, Number(v.dom.sliceInput.value)) - v.st.position[axisOf(view)], e.timeStamp);
  });
}

// ----- Python -> browser -----
export function pullState(v) {
  const model = v.model, st = v.st;
  for (const key of SCALAR_KEYS) st[key] = model.get(key);
  for (const key of ARRAY_KEYS) st[key] = model.get(key).slice();
  st.measurements = model.get("measurements").slice();
  syncLegend(v);
  if (model.get("playing") !== st.playing) { if (model.get("playing")) startPlay(v); else stopPlay(v); }
  requestRender(v);
}

// Python changed a synced trait: follow it, unless the user is mid-interaction here
export function listenToModel(v) {
  const onChange = () => { if (v.timers.sync === null && !v.dragging) pullState(v); };
  for (const key of SYNCED_KEYS) v.model.on(`change:${key}`, onChange);
  return () => { for (const key of SYNCED_KEYS) v.model.off(`change:${key}`, onChange); };
}
