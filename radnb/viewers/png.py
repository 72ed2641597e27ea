"""PNG pictures (matplotlib, Pillow) of what a viewer shows, for exports and ``static=True``.

(Formerly ``radnb.viewers.static``; that name still works for one release, with a warning.)
This module knows viewers only by the attributes it reads, so it imports nothing from
:mod:`radnb.viewers.viewer` (which imports it).

Widgets need a live kernel and a widget-aware frontend; nbconvert to HTML or
PDF and plain-text consoles do not have one. Every viewer therefore also carries
a PNG in its display data, and ``radnb.show(x, static=True)`` returns only that.

Examples
--------
>>> import numpy as np, radnb
>>> pic = radnb.show(np.eye(16), static=True)
>>> pic.png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, List, Optional, Union

import numpy as np

from .display import window_to_uint8

class StaticImage:
    """A PNG picture that notebooks display inline (``_repr_png_``).

    Attributes
    ----------
    png
        The PNG bytes.
    """

    def __init__(self, png: bytes):
        self.png = png

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path: Union[str, Path]) -> Path:
        """Write the PNG to ``path`` and return it."""
        path = Path(path)
        path.write_bytes(self.png)
        return path

    def __repr__(self) -> str:
        return f"<radnb StaticImage PNG, {len(self.png)} bytes>"


def _figure_png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor=fig.get_facecolor())
    return buf.getvalue()


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the same rule as the browser)."""
    m = np.pad(mask, 1, mode="constant")
    core = m[1:-1, 1:-1]
    inner = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return core & ~inner


def render_viewer_png(viewer: Any, dpi: int = 80) -> bytes:
    """Draw every panel of ``viewer`` (a :class:`~radnb.viewers.viewer.SliceViewer`) at its current
    slice, window and overlays; return PNG bytes. Measurements are not drawn (the browser draws them)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    panels = viewer._panels
    n = len(panels)
    fig = Figure(figsize=(4.2 * n, 4.6), facecolor="black")
    legend_handles: List[Any] = []
    seen = set()
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(1, n, k + 1)
        ax.set_facecolor("black")
        view = panel.get("view") or viewer.view
        plane = viewer.slice_array(view)
        row_mm, col_mm = viewer.pixel_spacing(view)
        extent = (0, plane.shape[1] * col_mm, plane.shape[0] * row_mm, 0)
        if plane.ndim == 3:
            ax.imshow(plane, extent=extent, interpolation="nearest")
        else:
            grey = window_to_uint8(plane, viewer.level, viewer.window, viewer.invert, viewer.voi_function)
            ax.imshow(grey, cmap="gray", vmin=0, vmax=255, extent=extent, interpolation="nearest")
        for layer_id in panel.get("layers", []):
            layer = viewer._layer_objs[layer_id]
            if layer.name in viewer.hidden_layers:
                continue
            data = viewer.slice_array(view, layer=layer_id)
            rgba = np.zeros(data.shape + (4,), dtype=np.float32)
            if layer.kind == "labels":
                for value, color in layer.meta["colors"].items():
                    mask = data == int(value)
                    if viewer.overlay_style == "outline":
                        mask = _outline(mask)
                    rgba[mask, :3] = np.asarray(color, dtype=np.float32) / 255.0
                    rgba[mask, 3] = 1.0 if viewer.overlay_style == "outline" else viewer.opacity
                names = layer.meta.get("class_names")  # from radnb.dicom.load_mask: one entry per named class
                if layer.name not in seen and names and len(names) > 1:
                    legend_handles += [Patch(color=np.asarray(layer.meta["colors"][v]) / 255.0, label=names[v])
                                       for v in layer.meta["colors"] if v in names]
                elif layer.name not in seen:
                    legend_handles.append(Patch(color=np.asarray(layer.meta["color"]) / 255.0, label=layer.name))
            else:
                table = np.asarray(layer.meta["cmap"], dtype=np.float32) / 255.0
                rgba[..., :3] = table[data]
                rgba[..., 3] = viewer.opacity * heat_alpha(data)
                if layer.name not in seen:
                    legend_handles.append(Patch(color=table[200], label=f"{layer.name} ({layer.meta['cmap_name']})"))
            seen.add(layer.name)
            ax.imshow(rgba, extent=extent, interpolation="nearest")
        title = panel.get("title") or ""
        prefix = f"{title} · " if title and title != view else ""
        ax.set_title(
            f"{prefix}{_slice_label(viewer, view)}W {viewer.window:g} L {viewer.level:g}",
            color="white",
            fontsize=9,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    if legend_handles:
        fig.legend(handles=legend_handles, loc="lower center", ncol=len(legend_handles), fontsize=8,
                   facecolor="black", labelcolor="white", edgecolor="gray")
    fig.tight_layout(rect=(0, 0.06 if legend_handles else 0, 1, 0.97))
    return _figure_png(fig, dpi)


def render_gallery_png(thumbs: List[np.ndarray], captions: List[str], columns: int, dpi: int = 80,
                       colors: Optional[List[str]] = None) -> bytes:
    """A grid of uint8 thumbnails with captions; used by :func:`radnb.gallery`'s static fallback."""
    from matplotlib.figure import Figure

    n = len(thumbs)
    cols = max(1, min(columns, n))
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(2.2 * cols, 2.5 * rows), facecolor="white")
    for k, (thumb, caption) in enumerate(zip(thumbs, captions)):
        ax = fig.add_subplot(rows, cols, k + 1)
        if thumb.ndim == 2:
            ax.imshow(thumb, cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(thumb)
        ax.set_title(caption, fontsize=7, color=(colors[k] if colors else "black"))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return _figure_png(fig, dpi)


def heat_alpha(levels: np.ndarray) -> np.ndarray:
    """Opacity of a heat map's colour per quantised level 0-255 (the browser uses the same ramp).

    Transparent at the bottom of the scale and fully coloured at the top, so a heat of
    exactly 0 paints nothing and a heat of 0.01 next to it is just as invisible: no
    sharp-edged islands where the map happens to be exactly zero.

    Examples
    --------
    >>> [round(float(a), 3) for a in heat_alpha(np.array([0, 1, 255]))]
    [0.0, 0.004, 1.0]
    """
    return np.asarray(levels, dtype=np.float32) / 255.0


def _slice_label(viewer: Any, view: str) -> str:
    axis = ("axial", "coronal", "sagittal").index(view)
    n = viewer.display_shape[axis]
    if n < 2:
        return ""
    index = viewer.position[axis]
    number = n - index if (view == "axial" and not viewer._superior_first) else index + 1
    return f"{view} {number}/{n} · "


def _blend(rgb: np.ndarray, color: np.ndarray, mask: np.ndarray, alpha: float) -> None:
    rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * color


def render_viewer_png_fast(viewer: Any, panel_height: int = 360) -> bytes:
    """Every panel at its current slice, window and overlays, side by side, drawn with Pillow.

    The same pixels as :func:`render_viewer_png` (window, overlay colours, opacity,
    outline rule) without matplotlib, so embedding it in every viewer's display data
    costs a few milliseconds. Panels are resized to their physical aspect ratio.
    """
    from PIL import Image, ImageDraw

    tiles = []
    for panel in viewer._panels:
        view = panel.get("view") or viewer.view
        plane = viewer.slice_array(view)
        if plane.ndim == 3:
            rgb = plane.astype(np.float32)
        else:
            grey = window_to_uint8(plane, viewer.level, viewer.window, viewer.invert, viewer.voi_function).astype(np.float32)
            rgb = np.repeat(grey[..., None], 3, axis=-1)
        for layer_id in panel.get("layers", []):
            layer = viewer._layer_objs[layer_id]
            if layer.name in viewer.hidden_layers:
                continue
            data = viewer.slice_array(view, layer=layer_id)
            if layer.kind == "labels":
                for value, color in layer.meta["colors"].items():
                    mask = data == int(value)
                    outline = viewer.overlay_style == "outline"
                    _blend(rgb, np.asarray(color, np.float32), _outline(mask) if outline else mask,
                           1.0 if outline else viewer.opacity)
            else:
                table = np.asarray(layer.meta["cmap"], dtype=np.float32)
                alpha = (viewer.opacity * heat_alpha(data))[..., None]
                rgb[:] = (1.0 - alpha) * rgb + alpha * table[data]
        img = Image.fromarray(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
        row_mm, col_mm = viewer.pixel_spacing(view)
        height_mm, width_mm = plane.shape[0] * row_mm, plane.shape[1] * col_mm
        size = (max(1, int(round(panel_height * width_mm / height_mm))), panel_height)
        img = img.resize(size, Image.NEAREST if max(plane.shape[:2]) < panel_height else Image.BILINEAR)
        title = panel.get("title") or ""
        prefix = f"{title} · " if title and title != view else ""
        label = f"{prefix}{_slice_label(viewer, view)}W {viewer.window:g} L {viewer.level:g}"
        ImageDraw.Draw(img).text((6, 4), label, fill=(255, 255, 255))
        tiles.append(img)
    gap = 4
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), panel_height), (0, 0, 0))
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width + gap
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
