"""Reading, windowing and de-identifying DICOM.

Examples
--------
>>> import radnb, pydicom.data
>>> ct = radnb.load(pydicom.data.get_testdata_file("CT_small.dcm"))
>>> bool(radnb.window(ct, "soft_tissue").max() <= 1.0)
True
"""
from .deid import DeidResult, PhiReport, deidentify, is_phi, phi_report
from .masks import LabelMap, load_mask
from .image import DicomImage, DicomSeries, LoadError, SeriesCollection
from .read import header_window, image_from_dataset, read_dataset, read_file, sniff_dicom
from .series import load, stack_slices
from .window import (AUTO_WINDOWS, PRESETS, Preset, WindowChoice, auto_window, default_window, percentile_window,
                     resolve_window, voi_linear, window, window_stack)

__all__ = [
    "load", "read_file", "read_dataset", "image_from_dataset", "sniff_dicom", "header_window", "stack_slices",
    "DicomImage", "DicomSeries", "SeriesCollection", "LoadError",
    "window", "window_stack", "default_window", "resolve_window", "WindowChoice", "auto_window", "percentile_window",
    "voi_linear", "PRESETS", "AUTO_WINDOWS", "Preset",
    "load_mask", "LabelMap",
    "deidentify", "phi_report", "is_phi", "PhiReport", "DeidResult",
]
