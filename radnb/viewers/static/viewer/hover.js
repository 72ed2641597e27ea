// The readout of the pixel under the pointer (value, overlays, patient coordinates), shown in
// the status line; it follows a wheel scroll without a mouse move.

import { axisOf, insidePlane, panelView, patientXYZ, sliceNumber, toImage, voxelOf } from "./geometry.js";
import { fmt, fmtData } from "./util.js";

export function updateHover(v, p, x, y) {
  const view = panelView(v, p);
  const pt = toImage(p, x, y);
  if (!insidePlane(v, view, pt)) { v.hover = null; return; }
  const [Z, H, W] = v.shape;
  const layers = v.layers, vols = v.vols, units = v.units;
  const r = Math.floor(pt[0]), c = Math.floor(pt[1]);
  const vox = voxelOf(v, view, v.st.position[axisOf(view)], r, c);
  const i = (vox[0] * H + vox[1]) * W + vox[2];
  let value;
  if (!v.loaded[vox[0]]) value = "loading";
  else if (layers[0].dtype === "rgb8") value = `RGB ${vols[0][3 * i]},${vols[0][3 * i + 1]},${vols[0][3 * i + 2]}`;
  else value = `${fmtData(vols[0][i], v.digits)}${units ? " " + units : ""}`;
  const extras = [];
  for (const li of p.spec.layers) {
    const val = vols[li][i];
    if (layers[li].kind === "labels" && val) extras.push(`${layers[li].name} ${val}`);
    if (layers[li].kind === "heatmap") extras.push(`${layers[li].name} ${fmt(layers[li].vmin + (val / 255) * (layers[li].vmax - layers[li].vmin), 2)}`);
  }
  // where: patient coordinates (DICOM LPS, mm) from ImagePositionPatient and ImageOrientationPatient
  // when the header gives them, else millimetres from the first voxel, else pixel indices only
  let where = "";
  const pat = patientXYZ(v, vox);
  if (pat) where = `x ${pat[0].toFixed(1)}, y ${pat[1].toFixed(1)}, z ${pat[2].toFixed(1)} mm · `;
  else if (v.spacingKnown) where = `${(vox[2] * v.spacing[2]).toFixed(1)}, ${(vox[1] * v.spacing[1]).toFixed(1)} mm from the top-left corner · `;
  const sliceText = Z > 1 ? ` slice ${sliceNumber(v, "axial", vox[0])}` : "";
  v.hover = `${where}col ${vox[2]} row ${vox[1]}${sliceText} = ${value}${extras.length ? " · " + extras.join(", ") : ""}`;
  v.dom.root.dataset.hover = v.hover;
}

// where the mouse rests (v.lastPointer), read again: after a scroll the readout is of the new slice
export function refreshHover(v) {
  if (v.lastPointer) updateHover(v, v.lastPointer.p, v.lastPointer.x, v.lastPointer.y);
}
