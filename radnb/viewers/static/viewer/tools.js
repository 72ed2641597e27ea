// The left-drag tools (toolbar buttons "W/L", "Pan", ... and the `tool` trait), kept in one registry.
//
// A tool is an object {name, label, title?, start?, move, end?}:
//   start(v, drag)           the button went down (drag.p panel, drag.x0/y0 canvas CSS px,
//                            drag.window/level/zoom/pan the state at that moment)
//   move(v, drag, dx, dy, x, y)  the pointer moved by (dx, dy) CSS px from the start, now at (x, y)
//   end(v, drag)             the button came up (drag.moved: whether it was a drag or a click)
// A new tool is one module exporting such objects plus one registerTool() line in viewer.js; the
// Python side lists its name in radnb/viewers/tools.py (the `tool` trait's choices).

export const TOOLS = [];

export function registerTool(tool) {
  if (!tool || typeof tool.name !== "string" || !tool.name || typeof tool.label !== "string")
    throw new Error("radnb viewer: a tool needs a name and a label");
  if (typeof tool.move !== "function") throw new Error(`radnb viewer: tool "${tool.name}" needs a move(v, drag, dx, dy) function`);
  if (TOOLS.some((t) => t.name === tool.name)) throw new Error(`radnb viewer: tool "${tool.name}" is registered twice`);
  TOOLS.push(tool);
  return tool;
}

export function toolNamed(name) {
  return TOOLS.find((t) => t.name === name) || null;
}

// which tool a pointer button drives: right = zoom, middle or shift+left = pan, left = the chosen tool
export function toolForButton(v, e) {
  if (e.button === 2) return "zoom";
  if (e.button === 1 || (e.button === 0 && e.shiftKey)) return "pan";
  return v.st.tool;
}
