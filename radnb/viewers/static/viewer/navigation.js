// The navigation tools: window/level, pan and zoom by dragging (OHIF's defaults).

import { axisOf, insidePlane, panelView, toImage, voxelOf } from "./geometry.js";

export const windowLevel = {
  name: "wl",
  label: "W/L",
  move(v, d, dx, dy) {
    // window/level change per screen pixel of drag, from Python (display.window_controls)
    v.st.window = Math.max(v.minWidth, d.window + dx * v.wlSensitivity);
    v.st.level = d.level + dy * v.wlSensitivity;
    v.st.preset = "";
  },
  end(v, d) {
    // a click (no drag) in a multi-view layout moves the cross-reference point there
    if (d.moved || v.panels.length < 2) return;
    const view = panelView(v, d.p);
    const pt = toImage(d.p, d.x0, d.y0);
    if (insidePlane(v, view, pt))
      v.st.position = voxelOf(v, view, v.st.position[axisOf(view)], Math.floor(pt[0]), Math.floor(pt[1]));
  },
};

export const pan = {
  name: "pan",
  label: "Pan",
  move(v, d, dx, dy) {
    const s = d.p.xf ? d.p.xf.s : 1;
    v.st.pan = [d.pan[0] + dx / s, d.pan[1] + dy / s];
  },
};

export const zoom = {
  name: "zoom",
  label: "Zoom",
  move(v, d, dx, dy) {
    v.st.zoom = Math.min(50, Math.max(0.05, d.zoom * Math.exp(-dy * 0.01)));
  },
};

export const navigationTools = [windowLevel, pan, zoom];
