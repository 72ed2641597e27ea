// What buttons and keys do: step through slices, cine, presets, reset.

import { axisOf, down, panelView } from "./geometry.js";
import { refreshHover } from "./hover.js";
import { renderAll, requestRender } from "./render.js";
import { commit, pushState, scheduleSync } from "./state.js";

export function step(v, view, delta, eventTime) {
  const st = v.st;
  const axis = axisOf(view);
  const next = Math.min(v.shape[axis] - 1, Math.max(0, st.position[axis] + delta));
  if (next === st.position[axis]) return;
  st.position = st.position.slice();
  st.position[axis] = next;
  // draw now rather than at the next animation frame: a wheel notch shows its slice at once
  if (eventTime !== undefined && v.perf.pending === null) v.perf.pending = eventTime;
  refreshHover(v);
  renderAll(v);
  scheduleSync(v);
}

export function startPlay(v) {
  stopPlay(v);
  const st = v.st;
  st.playing = true;
  const view = panelView(v, v.panels[0]);
  const axis = axisOf(view);
  const dir = down(v, view);
  const n = v.shape[axis];
  v.timers.play = setInterval(() => {
    st.position = st.position.slice();
    st.position[axis] = (st.position[axis] + dir + n) % n;
    refreshHover(v);
    requestRender(v);
  }, 1000 / Math.max(1, v.model.get("fps")));
  requestRender(v);
}

export function stopPlay(v) {
  if (v.timers.play) clearInterval(v.timers.play);
  v.timers.play = null;
  v.st.playing = false;
  requestRender(v);
}

export function togglePlay(v) {
  if (v.st.playing) stopPlay(v); else startPlay(v);
  pushState(v);
}

export function applyPreset(v, name) {
  const p = v.presets.find((q) => q.name === name);
  if (!p) return;
  v.st.window = p.width; v.st.level = p.center; v.st.preset = p.name;
  commit(v);
}

export function resetView(v) {
  const init = v.model.get("_initial"), st = v.st;
  st.window = init.window; st.level = init.level; st.preset = init.preset; st.invert = init.invert;
  st.zoom = 1; st.pan = [0, 0];
  commit(v);
}

export function toggleInvert(v) {
  v.st.invert = !v.st.invert;
  commit(v);
}
