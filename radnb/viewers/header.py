"""The header panel: DICOM attributes as table rows, identifying values hidden by default.

Whether an attribute identifies the patient is decided by
:func:`radnb.dicom.deid.is_phi`. Hidden values never leave the kernel: the
browser only receives them after ``viewer.show_phi = True`` (the instructor
toggle).

Examples
--------
>>> from pydicom import Dataset
>>> from radnb.viewers.header import header_rows
>>> ds = Dataset(); ds.PatientName = "Doe^Jane"; ds.Modality = "CT"
>>> [(r["keyword"], r["value"]) for r in header_rows(ds)]
[('Modality', 'CT'), ('PatientName', '(hidden)')]
"""
from __future__ import annotations

from typing import Any, Dict, List

HIDDEN = "(hidden)"
_MAX_VALUE_CHARS = 120


def _is_phi(elem: Any) -> bool:
    from ..dicom.deid import is_phi

    return bool(is_phi(elem))


def _value_text(elem: Any) -> str:
    if elem.VR == "SQ":
        return f"(sequence of {len(elem.value)} item{'s' if len(elem.value) != 1 else ''})"
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return f"(binary, {len(elem.value) if elem.value is not None else 0} bytes)"
    text = str(elem.value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def header_rows(ds: Any, show_phi: bool = False) -> List[Dict[str, Any]]:
    """Rows (tag, keyword, name, VR, value, phi) for the top-level attributes of ``ds``, sorted by tag.

    Pixel data is left out. With ``show_phi=False`` identifying values are replaced by
    ``"(hidden)"``.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset(); ds.PatientID = "12345"
    >>> header_rows(ds, show_phi=True)[0]["value"]
    '12345'
    """
    rows: List[Dict[str, Any]] = []
    if ds is None:
        return rows
    for elem in ds:
        if elem.tag == 0x7FE00010:  # Pixel Data
            continue
        phi = _is_phi(elem)
        rows.append(
            {
                "tag": f"({elem.tag.group:04X},{elem.tag.element:04X})",
                "keyword": elem.keyword or "",
                "name": elem.name,
                "vr": elem.VR,
                "value": HIDDEN if (phi and not show_phi) else _value_text(elem),
                "phi": phi,
            }
        )
    return rows
