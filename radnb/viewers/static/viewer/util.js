// Small helpers shared by the viewer's modules: DOM building, number formatting, typed arrays.

export const VIEWS = ["axial", "coronal", "sagittal"];

export function bytesOf(buf) {
  if (!buf) return new Uint8Array(0);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function allocate(dtype, n) {
  if (dtype === "int16") return new Int16Array(n);
  if (dtype === "float32") return new Float32Array(n);
  if (dtype === "rgb8") return new Uint8Array(n * 3);
  return new Uint8Array(n);
}

export function bytesPerVoxel(dtype) {
  return dtype === "int16" ? 2 : dtype === "float32" ? 4 : dtype === "rgb8" ? 3 : 1;
}

export function sameArray(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function rgbaWord(r, g, b, a = 255) {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.appendChild(c);
  return node;
}

export function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(digits);
}

// window, level and pixel values: a fixed number of decimals for small-range data
// (steady while dragging: "W 0.980 L 0.500"), else as fmt
export function fmtData(v, digits) {
  if (digits > 1 && typeof v === "number" && Number.isFinite(v)) return v.toFixed(digits);
  return fmt(v);
}
