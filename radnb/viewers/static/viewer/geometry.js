// Where things are: planes of the volume, PACS slice numbering, screen <-> image transforms.
// `v` is the viewer context built by viewer.js's render(); nothing here touches the DOM.

import { VIEWS } from "./util.js";

export const axisOf = (view) => VIEWS.indexOf(view);
export const viewName = (view) => view[0].toUpperCase() + view.slice(1);
export const panelView = (v, p) => p.spec.view || v.st.view;

export function planeShape(v, view) {
  const [Z, H, W] = v.shape;
  return view === "axial" ? [H, W] : view === "coronal" ? [Z, W] : [Z, H];
}

export function planeSpacing(v, view) {
  const s = v.spacing;
  return view === "axial" ? [s[1], s[2]] : view === "coronal" ? [s[0], s[2]] : [s[0], s[1]];
}

// PACS order: axial numbers count from the head; "down" (wheel, ↓) is one step towards the feet
const reversed = (v, view) => view === "axial" && !v.superiorFirst;
export const sliceNumber = (v, view, index) => (reversed(v, view) ? v.shape[axisOf(view)] - index : index + 1);
export const indexOfNumber = (v, view, number) => (reversed(v, view) ? v.shape[axisOf(view)] - number : number - 1);
export const down = (v, view) => (reversed(v, view) ? -1 : 1);

// the 2D plane of layer `li` for `view` at `index`; rows run head -> feet for coronal/sagittal
export function extract(v, li, view, index, out) {
  const [Z, , W] = v.shape;
  const vol = v.vols[li];
  const sliceVoxels = v.sliceVoxels;
  const rgb = v.layers[li].dtype === "rgb8" ? 3 : 1;
  if (view === "axial") return vol.subarray(index * sliceVoxels * rgb, (index + 1) * sliceVoxels * rgb);
  const [rows, cols] = planeShape(v, view);
  if (!out || out.length !== rows * cols * rgb) out = new vol.constructor(rows * cols * rgb);
  for (let r = 0; r < rows; r++) {
    const z = v.superiorFirst ? r : Z - 1 - r;
    if (view === "coronal") {
      const start = (z * sliceVoxels + index * W) * rgb;
      out.set(vol.subarray(start, start + W * rgb), r * cols * rgb);
    } else {
      const zoff = z * sliceVoxels + index;
      for (let c = 0; c < cols; c++) {
        const src = (zoff + c * W) * rgb, dst = (r * cols + c) * rgb;
        for (let k = 0; k < rgb; k++) out[dst + k] = vol[src + k];
      }
    }
  }
  return out;
}

export function transformFor(v, p, view) {
  const [rows, cols] = planeShape(v, view);
  const [rmm, cmm] = planeSpacing(v, view);
  const cw = p.canvas.clientWidth || 300, ch = p.canvas.clientHeight || 300;
  const physW = cols * cmm, physH = rows * rmm;
  const s = Math.min(cw / physW, ch / physH) * v.st.zoom; // CSS px per mm
  const ox = cw / 2 - (physW / 2 - v.st.pan[0]) * s;
  const oy = ch / 2 - (physH / 2 - v.st.pan[1]) * s;
  return { s, ox, oy, rmm, cmm, rows, cols, cw, ch };
}

export function toImage(p, sx, sy) {
  const xf = p.xf;
  if (!xf) return null;
  return [(sy - xf.oy) / xf.s / xf.rmm, (sx - xf.ox) / xf.s / xf.cmm]; // continuous (row, col)
}

export function toScreen(xf, r, c) {
  return [xf.ox + c * xf.cmm * xf.s, xf.oy + r * xf.rmm * xf.s];
}

// (row, col) on a plane -> voxel [z, y, x]
export function voxelOf(v, view, index, r, c) {
  const zr = v.superiorFirst ? r : v.shape[0] - 1 - r;
  if (view === "axial") return [index, r, c];
  if (view === "coronal") return [zr, index, c];
  return [zr, c, index];
}

export function planeOfVoxel(v, view, vox) {
  const r = v.superiorFirst ? vox[0] : v.shape[0] - 1 - vox[0];
  if (view === "axial") return [vox[1], vox[2]];
  if (view === "coronal") return [r, vox[2]];
  return [r, vox[1]];
}

export function insidePlane(v, view, pt) {
  const [rows, cols] = planeShape(v, view);
  return !!pt && pt[0] >= 0 && pt[1] >= 0 && pt[0] < rows && pt[1] < cols;
}

// patient coordinates (DICOM LPS, mm) from ImagePositionPatient + ImageOrientationPatient, or null
export function patientXYZ(v, vox) {
  const pos = v.geometry.positions, o = v.geometry.orientation;
  if (!pos || !o || !pos[vox[0]]) return null;
  const p0 = pos[vox[0]];
  // ImageOrientationPatient: o[0..2] = direction of increasing column index, o[3..5] = of increasing row
  return [0, 1, 2].map((k) => p0[k] + vox[2] * v.spacing[2] * o[k] + vox[1] * v.spacing[1] * o[3 + k]);
}
