"""Annex E completeness: a unique marker planted in every attribute of Table E.1-1 (top level and
nested), in overlays, curves, private attributes, the file meta and the preamble; none may survive
radnb.deidentify, and radnb.phi_report must find every one in the original."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import radnb
from radnb.dicom.deid import TABLE_FILE, profile_table

from dicom_factory import write_ct_series

# an unlisted sequence to nest the whole table in (Procedure Code Sequence is not in Table E.1-1)
NEST_IN = 0x00081032


def _vr(tag: int, name: str) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:  # newer than pydicom's dictionary: infer from the name
        vr = ("SQ" if name.split(" (")[0].endswith("Sequence") else "DT" if "DateTime" in name
              else "UR" if ("URI" in name or "Reference" in name) else "LT" if "Comment" in name
              else "UC" if name.startswith("Ethnic Groups") else "PN" if name.startswith("Name to Use (") else "LO")
    return vr.split(" or ")[0]


def _marker_value(vr: str, k: int, prefix: str):
    """A value that appears nowhere else in the file, for element number k."""
    text = f"{prefix}{k:04d}Q"
    if vr in ("AE", "CS", "SH", "LO", "LT", "ST", "UC", "UT", "UR", "PN"):
        return text, text.encode()
    if vr == "DA":
        v = f"2{k:03d}0{1 + (prefix == 'MN')}11"
        return v, v.encode()
    if vr == "TM":
        v = f"1200{k % 60:02d}.{7 + (prefix == 'MN')}{k:05d}"
        return v, v.encode()
    if vr == "DT":
        v = f"2{k:03d}0101120000.{7 + (prefix == 'MN')}{k:05d}"
        return v, v.encode()
    if vr in ("DS", "IS"):
        v = f"{7 + (prefix == 'MN')}{k:05d}"
        return v, v.encode()
    if vr == "AS":
        return "077Y", None  # four characters cannot be unique: checked by value, not by bytes
    if vr == "UI":
        v = f"2.25.{99 + (prefix == 'MN')}{k:06d}1234567"
        return v, v.encode()
    if vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
        return text.encode() * 2, text.encode()
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "AT"):
        return k + 1, None
    raise AssertionError(vr)


def _plant(ds: Dataset, prefix: str, rules) -> dict:
    """Put a marker in every listed attribute; returns tag -> marker bytes (None when not byte-unique)."""
    markers = {}
    for k, rule in enumerate(rules):
        tag = rule.tag
        if tag >> 16 in (0x0000, 0x0002):  # command and file meta groups: not in a stored dataset
            continue
        vr = _vr(tag, rule.name)
        if vr == "SQ":
            item = Dataset()
            text = f"{prefix}{k:04d}S"
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "1", "99TEST", text
            if rule.action() in ("U*", "K"):  # kept sequences: the UIDs inside must change
                item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
                item.ReferencedSOPInstanceUID = f"2.25.{98 + (prefix == 'MN')}{k:06d}7654321"
                markers[tag] = item.ReferencedSOPInstanceUID.encode()
            else:
                markers[tag] = text.encode()
            ds.add(DataElement(tag, "SQ", Sequence([item])))
            continue
        value, marker = _marker_value(vr, k, prefix)
        ds.add(DataElement(tag, vr, value))
        markers[tag] = marker
    return markers


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    src = write_ct_series(root / "src", np.zeros((1, 4, 4), np.float32))[0]
    ds = pydicom.dcmread(src)
    rules = sorted(profile_table().values(), key=lambda r: r.tag)
    rules = [r for r in rules if r.tag not in (0x7FE00010,)]
    markers = _plant(ds, "MK", rules)
    nested_outer = Dataset()
    nested_inner = Dataset()
    nested = _plant(nested_inner, "MN", rules)
    nested_outer.add(DataElement(NEST_IN, "SQ", Sequence([nested_inner])))  # depth 2
    ds.add(DataElement(NEST_IN, "SQ", Sequence([nested_outer])))
    extras = {
        "overlay data": (0x60003000, "OW", b"MKOVERLAYDATA1"),
        "overlay comments": (0x60024000, "LT", "MKOVERLAYCOMMENT"),
        "overlay description": (0x60000022, "LO", "MKOVERLAYDESCR"),
        "overlay label": (0x60001500, "LO", "MKOVERLAYLABEL"),
        "curve data": (0x50003000, "OB", b"MKCURVEDATA1"),
        "curve label": (0x50022500, "LO", "MKCURVELABEL"),
        "private creator": (0x00090010, "LO", "MKPRIVCREATOR"),
        "private value": (0x00091001, "LO", "MKPRIVATEVALUE"),
    }
    for tag, vr, value in extras.values():
        ds.add(DataElement(tag, vr, value))
    private_item = Dataset()
    private_item.CodeMeaning = "MKPRIVATENESTED"
    ds.add(DataElement(0x00091002, "SQ", Sequence([private_item])))
    ds.file_meta.SourceApplicationEntityTitle = "MKSOURCEAE"
    ds.file_meta.SendingApplicationEntityTitle = "MKSENDAE"
    ds.file_meta.PrivateInformationCreatorUID = "2.25.555"
    ds.file_meta.PrivateInformation = b"MKPRIVATEINFO1"
    ds.preamble = b"MKPREAMBLE" + b"\x01" * 118
    path = root / "planted.dcm"
    ds.save_as(path, enforce_file_format=True)
    raw_markers = [m for m in list(markers.values()) + list(nested.values()) if m]
    raw_markers += [v if isinstance(v, bytes) else v.encode() for _, _, v in extras.values()]
    raw_markers += [b"MKPRIVATENESTED", b"MKSOURCEAE", b"MKSENDAE", b"MKPRIVATEINFO1", b"MKPREAMBLE"]
    original = path.read_bytes()
    missing = [m for m in raw_markers if m not in original]
    assert not missing, f"markers not written: {missing[:5]}"  # the premise: they are all in the input
    out = root / "out.dcm"
    result = radnb.deidentify(path, out, salt="planted")
    assert not result.errors, result.errors
    return dict(path=path, out=out, markers=markers, nested=nested, raw=raw_markers, rules=rules, original=original)


def test_every_table_row_is_planted(planted):
    planted_tags = set(planted["markers"])
    table_tags = {r.tag for r in planted["rules"] if r.tag >> 16 not in (0x0000, 0x0002)}
    assert planted_tags == table_tags and len(planted_tags) > 600


def test_no_marker_survives_deidentify(planted):
    data = planted["out"].read_bytes()
    survivors = [m.decode(errors="replace") for m in planted["raw"] if m in data]
    assert not survivors, f"{len(survivors)} planted values survived, e.g. {survivors[:10]}"
    assert data[:128] == b"\0" * 128  # preamble zeroed


def test_every_attribute_is_acted_on_at_every_depth(planted):
    ds = pydicom.dcmread(planted["out"])
    table = profile_table()
    nested_item = ds[NEST_IN].value[0][NEST_IN].value[0]
    for where, dataset, markers in (("top level", ds, planted["markers"]), ("nested", nested_item, planted["nested"])):
        for tag in markers:
            rule = table[tag]
            action = rule.action()
            if tag in (0x00100010, 0x00100020) and where == "top level":
                assert str(dataset[tag].value).startswith("ANON-")
                continue
            if action == "X":
                assert tag not in dataset, f"{where}: {rule.keyword} ({rule.basic}) was not removed"
            elif action in ("Z", "D") and tag in dataset:
                value = dataset[tag].value
                assert value in (None, "", b"", [], 0, 0.0) or str(value) in ("ANONYMIZED", "19000101", "000000",
                                                                               "19000101000000", "0", "000Y") \
                    or dataset[tag].VR == "UI", f"{where}: {rule.keyword} ({rule.basic}) kept {value!r}"


def test_file_meta_is_rewritten(planted):
    ds = pydicom.dcmread(planted["out"])
    meta = ds.file_meta
    for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "PrivateInformation",
                    "PrivateInformationCreatorUID"):
        assert keyword not in meta
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID != pydicom.dcmread(planted["path"]).SOPInstanceUID
    assert meta.ImplementationVersionName == "RADNB_0_1"
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == ["113100"]


def test_phi_report_finds_every_planted_marker(planted):
    rep = radnb.phi_report(planted["path"])
    assert not rep.clean
    found = set(rep.findings["tag"])
    table = profile_table()
    wheres = list(rep.findings["where"])

    def reported(tag):  # the attribute itself, or (for sequences kept with new UIDs) something inside it
        return str(pydicom.tag.Tag(tag)) in found or any(w.startswith(table[tag].keyword + "[") for w in wheres)

    top_missing = [table[t].keyword or hex(t) for t in planted["markers"] if not reported(t)]
    assert not top_missing, f"phi_report missed {len(top_missing)} planted attributes, e.g. {top_missing[:10]}"
    depth2 = "ProcedureCodeSequence[0] > ProcedureCodeSequence[0] > "
    nested = [w[len(depth2):] for w in wheres if w.startswith(depth2)]
    nested_missing = [table[t].keyword or hex(t) for t in planted["nested"]
                      if not any(w == (table[t].keyword or str(pydicom.tag.Tag(t))) or w.startswith(table[t].keyword + "[")
                                 for w in nested)]
    assert not nested_missing, f"phi_report missed nested attributes, e.g. {nested_missing[:10]}"
    reasons = " ".join(rep.findings["reason"])
    for what in ("overlay", "curve", "private", "file meta", "preamble"):
        assert what in reasons, what
    assert "PatientName" in rep.explain() or "identifying attribute" in rep.explain()


def test_phi_report_is_clean_on_the_deidentified_copy(planted):
    rep = radnb.phi_report(planted["out"], show_values=True)
    assert rep.clean, rep.findings[["keyword", "value", "reason"]].to_string()
    assert "no attribute" in rep.explain()


def test_table_matches_an_independent_copy():
    # dicom-anonymizer ships its own transcription of Table E.1-1 (edition 2026c): every row must agree
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    db = dicom_anonymization_database_selector("dicomfields_2026c")
    codes = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
             "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*"}
    theirs = {}
    for category, code in codes.items():
        for tag in db[category]:
            if len(tag) == 2:
                theirs[(tag[0] << 16) | tag[1]] = code
    ours = {tag: rule.basic for tag, rule in profile_table().items()}
    assert not set(theirs) - set(ours), f"rows missing here: {sorted(hex(t) for t in set(theirs) - set(ours))}"
    new_in_2026d = {0x3004007F}  # Dose Calculation Model Name, added after 2026c
    assert set(ours) - set(theirs) == new_in_2026d
    differ = {hex(t): (ours[t], theirs[t]) for t in theirs if ours[t] != theirs[t]}
    assert not differ, differ
    assert "2026d" in TABLE_FILE.with_suffix(".md").read_text()
