"""De-identification round trips on real files: no PHI left, originals untouched, UIDs consistent."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

import radnb
from radnb.dicom.deid import is_phi
from radnb.errors import InvalidArgumentError

from dicom_factory import write_ct_series, write_radiograph


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def study(tmp_path):
    root = tmp_path / "study"
    uid = pydicom.uid.generate_uid()
    write_ct_series(root / "ct1", np.zeros((3, 8, 8), np.float32), study_uid=uid, patient="SMITH^JOHN")
    write_ct_series(root / "ct2", np.ones((2, 8, 8), np.float32), study_uid=uid, patient="SMITH^JOHN")
    ds_path = write_radiograph(root / "cxr.dcm", np.zeros((8, 8)))
    ds = pydicom.dcmread(ds_path)
    ds.OperatorsName = "TECH^TOM"
    ds.add_new(0x00091001, "LO", "private vendor note with a name")
    ds.BurnedInAnnotation = "YES"
    ds.save_as(ds_path)
    (root / "labels.csv").write_text("file,label\n")
    return root


def test_report_finds_phi_in_the_original(study):
    rep = radnb.phi_report(study)
    assert not rep.clean and rep.files_checked == 6
    found = set(rep.findings["keyword"])
    assert {"PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "OperatorsName", "BurnedInAnnotation"} <= found
    assert "SMITH^JOHN" not in rep.findings["value"].tolist()  # masked by default
    assert "SMITH^JOHN" in radnb.phi_report(study, show_values=True).findings["value"].tolist()


def test_deidentified_copy_is_clean_and_originals_untouched(study, tmp_path):
    before = _digest(study)
    out = tmp_path / "anon"
    result = radnb.deidentify(study, out, salt="course-2026")
    assert len(result.written) == 6 and not result.errors
    assert _digest(study) == before
    rep = radnb.phi_report(out)
    assert rep.files_checked == 6
    assert set(rep.findings["keyword"]) <= {"BurnedInAnnotation"}  # only the pixel warning stays
    assert any("burned" in w.lower() for w in result.warnings)
    # images still load with the same pixels
    np.testing.assert_array_equal(radnb.load(out / "ct1").array, radnb.load(study / "ct1").array)


def test_uids_are_remapped_consistently(study, tmp_path):
    out = tmp_path / "anon"
    radnb.deidentify(study, out, salt="s")
    orig = [pydicom.dcmread(p) for p in sorted((study / "ct1").iterdir())]
    new = [pydicom.dcmread(p) for p in sorted((out / "ct1").iterdir())]
    new2 = [pydicom.dcmread(p) for p in sorted((out / "ct2").iterdir())]
    assert len({d.SeriesInstanceUID for d in new}) == 1
    assert new[0].SeriesInstanceUID != orig[0].SeriesInstanceUID
    assert new[0].StudyInstanceUID == new2[0].StudyInstanceUID != orig[0].StudyInstanceUID
    assert new[0].SeriesInstanceUID != new2[0].SeriesInstanceUID
    assert all(d.SOPInstanceUID == d.file_meta.MediaStorageSOPInstanceUID for d in new)
    assert new[0].SOPClassUID == orig[0].SOPClassUID  # standard class UIDs are kept
    assert new[0].PatientID == new2[0].PatientID and new[0].PatientID.startswith("ANON-")
    assert new[0].PatientIdentityRemoved == "YES"
    # the same salt gives the same pseudonyms next time (a follow-up study links up)
    again = radnb.deidentify(study, tmp_path / "anon2", salt="s")
    assert pydicom.dcmread(sorted((tmp_path / "anon2" / "ct1").iterdir())[0]).PatientID == new[0].PatientID
    assert again.patient_map == {"MRN-12345": new[0].PatientID}


def test_keep_and_characteristics(tmp_path):
    src = get_testdata_file("CT_small.dcm")
    radnb.deidentify(src, tmp_path / "a.dcm", retain_patient_characteristics=True, keep=["StudyDate"])
    ds = pydicom.dcmread(tmp_path / "a.dcm")
    orig = pydicom.dcmread(src)
    assert ds.StudyDate == orig.StudyDate and ds.PatientSex == orig.PatientSex
    with pytest.raises(InvalidArgumentError, match="Unknown DICOM keyword"):
        radnb.deidentify(src, tmp_path / "b.dcm", keep=["NotAKeyword"])


def test_refuses_to_write_over_or_inside_the_original(study, tmp_path):
    with pytest.raises(InvalidArgumentError):
        radnb.deidentify(study, study)
    with pytest.raises(InvalidArgumentError, match="outside"):
        radnb.deidentify(study, study / "anon")


def test_broken_file_reported_not_copied(study, tmp_path):
    (study / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    result = radnb.deidentify(study, tmp_path / "anon")
    assert [e.path.name for e in result.errors] == ["broken.dcm"]
    assert len(result.written) == 6


def test_is_phi_rules():
    assert is_phi("PatientName") and is_phi(0x00100020) and is_phi((0x0008, 0x0080))
    assert not is_phi("Rows") and not is_phi("PixelSpacing") and not is_phi("Modality")
    assert is_phi(0x00091001)  # private
    assert is_phi("ScheduledPerformingPhysicianName", vr="PN")
