"""De-identification after the DICOM Basic Application Level Confidentiality Profile.

The profile (DICOM PS3.15 Annex E, Table E.1-1) lists the attributes that can
identify a patient and what to do with each: remove it (X), empty it (Z),
replace it with a dummy value (D) or replace a UID consistently (U). radnb
applies the common attributes of that table, plus these rules:

- every person name (VR ``PN``) anywhere in the file, sequences included, is removed;
- private (vendor) attributes are removed, since they often hide names and IDs;
- UIDs (except the standard's own ``1.2.840.10008.*`` class and syntax UIDs) are
  replaced by new UIDs derived from the original and a secret salt, so slices of
  one study still belong together and references between files still match;
- ``PatientID`` becomes a pseudonym (the same patient keeps the same pseudonym
  within a run with the same salt), ``PatientName`` becomes that pseudonym too;
- ``PatientIdentityRemoved`` is set to ``YES`` and ``DeidentificationMethod``
  says what was done;
- ``BurnedInAnnotation = YES`` is surfaced as a warning: names burned into the
  pixels are not removed by editing the header.

Originals are never modified: new files are written to another folder.

Examples
--------
>>> is_phi("PatientName"), is_phi("Rows")
(True, False)
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from ..errors import DicomError, InvalidArgumentError, RadnbError

PathLike = Union[str, Path]

PROFILE_NAME = "radnb: PS3.15 E.1 basic confidentiality profile"

# keyword -> action ("X" remove, "Z" empty, "D" dummy, "U" UID remap (UIDs are handled generically))
PHI_ACTIONS: Dict[str, str] = {
    # patient
    "PatientName": "D", "PatientID": "D", "IssuerOfPatientID": "X", "PatientBirthDate": "Z",
    "PatientBirthTime": "X", "PatientSex": "Z", "PatientAge": "X", "PatientSize": "X", "PatientWeight": "X",
    "PatientAddress": "X", "PatientTelephoneNumbers": "X", "PatientMotherBirthName": "X",
    "PatientBirthName": "X", "OtherPatientIDs": "X", "OtherPatientIDsSequence": "X", "OtherPatientNames": "X",
    "MilitaryRank": "X", "BranchOfService": "X", "EthnicGroup": "X", "Occupation": "X",
    "AdditionalPatientHistory": "X", "PatientComments": "X", "MedicalRecordLocator": "X",
    "PatientInsurancePlanCodeSequence": "X", "PatientReligiousPreference": "X", "CountryOfResidence": "X",
    "RegionOfResidence": "X", "MedicalAlerts": "X", "Allergies": "X", "PregnancyStatus": "X",
    "ResponsiblePerson": "X", "ResponsibleOrganization": "X", "PatientState": "X",
    # study / visit
    "StudyDate": "Z", "SeriesDate": "X", "AcquisitionDate": "X", "ContentDate": "Z", "StudyTime": "Z",
    "SeriesTime": "X", "AcquisitionTime": "X", "ContentTime": "Z", "AcquisitionDateTime": "X",
    "InstanceCreationDate": "X", "InstanceCreationTime": "X", "OverlayDate": "X", "CurveDate": "X",
    "AccessionNumber": "Z", "StudyID": "Z", "StudyDescription": "X", "SeriesDescription": "X",
    "AdmittingDiagnosesDescription": "X", "AdmissionID": "X", "ReasonForStudy": "X",
    "RequestAttributesSequence": "X", "RequestedProcedureDescription": "X", "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X", "PerformedProcedureStepStartDate": "X",
    "PerformedProcedureStepStartTime": "X", "ScheduledProcedureStepID": "X", "ImageComments": "X",
    "ProtocolName": "X", "RequestingService": "X", "DerivationDescription": "X",
    # people and places
    "ReferringPhysicianName": "Z", "ReferringPhysicianAddress": "X", "ReferringPhysicianTelephoneNumbers": "X",
    "PerformingPhysicianName": "X", "PhysiciansOfRecord": "X", "NameOfPhysiciansReadingStudy": "X",
    "OperatorsName": "X", "RequestingPhysician": "X", "ContentCreatorName": "Z", "InstitutionName": "X",
    "InstitutionAddress": "X", "InstitutionalDepartmentName": "X", "StationName": "X",
    "DeviceSerialNumber": "X", "PlateID": "X", "DetectorID": "X", "GantryID": "X", "CassetteID": "X",
    "InstitutionCodeSequence": "X", "ReferringPhysicianIdentificationSequence": "X",
    "PerformingPhysicianIdentificationSequence": "X", "OperatorIdentificationSequence": "X",
    "TextString": "X", "TextComments": "X", "FrameComments": "X", "DeviceUID": "U",
}
# attributes used to teach with that a research export typically keeps (the profile's
# "Retain Patient Characteristics Option")
PATIENT_CHARACTERISTICS = ("PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup")
_NEVER_REMAP = {"SOPClassUID", "MediaStorageSOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID",
                "ImplementationClassUID", "SOPClassesInStudy", "CodingSchemeUID"}


def _keyword(tag_or_keyword: Any) -> Optional[str]:
    from pydicom.datadict import keyword_for_tag
    from pydicom.tag import Tag

    if isinstance(tag_or_keyword, str) and not tag_or_keyword.startswith("("):
        return tag_or_keyword
    try:
        return keyword_for_tag(Tag(tag_or_keyword)) or None
    except Exception:
        return None


def is_phi(tag: Any, vr: Optional[str] = None) -> bool:
    """Whether a DICOM attribute can identify a patient (radnb's de-identification profile).

    Parameters
    ----------
    tag
        A keyword (``"PatientName"``), a tag (``0x00100010``, ``(0x0010, 0x0010)``)
        or a pydicom ``DataElement``.
    vr
        The value representation, if known (every ``PN`` counts as PHI).

    Examples
    --------
    >>> is_phi(0x00100010), is_phi("StudyDate"), is_phi("PixelSpacing"), is_phi("OperatorsName")
    (True, True, False, True)
    """
    from pydicom.dataelem import DataElement
    from pydicom.tag import Tag

    if isinstance(tag, DataElement):
        vr = vr or tag.VR
        tag = tag.tag
    keyword = _keyword(tag)
    if keyword in PHI_ACTIONS:
        return True
    if vr == "PN":
        return True
    try:
        t = Tag(tag) if keyword is None or not isinstance(tag, str) else Tag(keyword)
    except Exception:
        return False
    return bool(t.is_private)


@dataclass
class DeidResult:
    """What :func:`deidentify` wrote.

    Attributes
    ----------
    written
        New files, in the order of the originals.
    errors
        Files that could not be de-identified, with reasons (they were not copied).
    warnings
        Things a person must check (e.g. burned-in annotations in the pixels).
    patient_map
        Original PatientID -> pseudonym (keep it private, or discard it).
    """

    written: List[Path] = field(default_factory=list)
    errors: List[Any] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    patient_map: Dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"<DeidResult: {len(self.written)} file(s) written, {len(self.errors)} failed, "
            f"{len(self.warnings)} warning(s)>"
        )


class _Deidentifier:
    def __init__(self, salt: str, keep: Sequence[str], retain_patient_characteristics: bool):
        self.salt = salt
        self.keep = set(keep)
        if retain_patient_characteristics:
            self.keep.update(PATIENT_CHARACTERISTICS)
        from pydicom.datadict import tag_for_keyword

        unknown = [k for k in self.keep if tag_for_keyword(k) is None]
        if unknown:
            raise InvalidArgumentError(f"Unknown DICOM keyword(s) in keep=: {', '.join(unknown)}")
        self.uid_map: Dict[str, str] = {}
        self.patient_map: Dict[str, str] = {}

    def uid(self, value: str) -> str:
        from pydicom.uid import generate_uid

        if value not in self.uid_map:
            self.uid_map[value] = str(generate_uid(entropy_srcs=[self.salt, value]))
        return self.uid_map[value]

    def pseudonym(self, patient_id: str) -> str:
        if patient_id not in self.patient_map:
            digest = hashlib.sha256(f"{self.salt}|{patient_id}".encode()).hexdigest()[:10].upper()
            self.patient_map[patient_id] = f"ANON-{digest}"
        return self.patient_map[patient_id]

    def clean(self, ds: Any) -> None:
        patient_id = str(getattr(ds, "PatientID", "") or "")
        pseudonym = self.pseudonym(patient_id or "unknown")
        ds.remove_private_tags()
        self._walk(ds)
        if "PatientName" not in self.keep:
            ds.PatientName = pseudonym
        if "PatientID" not in self.keep:
            ds.PatientID = pseudonym
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = PROFILE_NAME
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID

    def _walk(self, ds: Any) -> None:
        for elem in list(ds):
            keyword = elem.keyword
            if keyword in self.keep:
                continue
            if elem.VR == "SQ":
                if keyword in PHI_ACTIONS and PHI_ACTIONS[keyword] == "X":
                    del ds[elem.tag]
                    continue
                for item in elem.value:
                    self._walk(item)
                continue
            action = PHI_ACTIONS.get(keyword)
            if elem.VR == "UI" and keyword not in _NEVER_REMAP and elem.value:
                values = elem.value if isinstance(elem.value, list) or type(elem.value).__name__ == "MultiValue" else [elem.value]
                new = [v if str(v).startswith("1.2.840.10008.") else self.uid(str(v)) for v in values]
                elem.value = new if len(new) > 1 else new[0]
                continue
            if action is None and elem.VR == "PN":
                action = "X"
            if action == "X":
                del ds[elem.tag]
            elif action in ("Z", "D"):  # PatientName/PatientID get their pseudonym in clean()
                elem.value = ""


def _iter_files(src: Path) -> List[Path]:
    if src.is_file():
        return [src]
    return sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))


def deidentify(
    src: PathLike,
    dst: PathLike,
    *,
    salt: Optional[str] = None,
    keep: Iterable[str] = (),
    retain_patient_characteristics: bool = False,
    overwrite: bool = False,
) -> DeidResult:
    """Write de-identified copies of a DICOM file or folder; the originals are never touched.

    Parameters
    ----------
    src
        A DICOM file or a folder (searched recursively; non-DICOM files are skipped).
    dst
        Output file (when ``src`` is a file) or folder (the sub-folder layout is kept,
        file names too — rename files yourself if their names contain identifiers).
    salt
        Secret that makes pseudonyms and new UIDs reproducible: use the same salt to
        de-identify a follow-up study so it links to the first. Random when omitted.
    keep
        Keywords to leave untouched (e.g. ``["PatientSex"]``).
    retain_patient_characteristics
        Keep sex, age, size, weight and ethnic group (the profile's option of that name).
    overwrite
        Allow writing over existing output files.

    Returns
    -------
    DeidResult

    Examples
    --------
    >>> import tempfile, pydicom.data, radnb
    >>> out = tempfile.mkdtemp()
    >>> res = radnb.deidentify(pydicom.data.get_testdata_file("CT_small.dcm"), out + "/ct.dcm")
    >>> radnb.phi_report(out).clean
    True
    """
    import pydicom

    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.exists():
        raise DicomError("no such file or folder", src)
    if src == dst:
        raise InvalidArgumentError("The output must differ from the input: de-identification never overwrites originals.")
    if src.is_dir() and (dst == src or src in dst.parents):
        raise InvalidArgumentError(f"Write the de-identified copies outside the original folder {src} (got {dst}).")
    from .image import LoadError
    from .read import read_dataset

    worker = _Deidentifier(salt or secrets.token_hex(16), list(keep), retain_patient_characteristics)
    result = DeidResult()
    files = _iter_files(src)
    burned: List[str] = []
    for path in files:
        target = dst if src.is_file() else dst / path.relative_to(src)
        if target.exists() and not overwrite:
            result.errors.append(LoadError(path, DicomError(f"output {target} exists; pass overwrite=True", path)))
            continue
        try:
            ds = read_dataset(path)
        except RadnbError as exc:
            if src.is_dir() and type(exc).__name__ == "NotDicomError":
                continue  # e.g. a labels.csv beside the images
            result.errors.append(LoadError(path, exc))
            continue
        if str(getattr(ds, "BurnedInAnnotation", "")).upper() == "YES":
            burned.append(path.name)
        worker.clean(ds)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        try:
            ds.save_as(tmp, enforce_file_format=False)
            os.replace(tmp, target)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            result.errors.append(LoadError(path, DicomError(f"could not write the de-identified copy ({exc})", path)))
            continue
        result.written.append(target)
    if burned:
        result.warnings.append(
            f"{len(burned)} file(s) are flagged BurnedInAnnotation=YES (e.g. {burned[0]}): text such as a name "
            "may be burned into the pixels. Look at the images and mask that text before sharing."
        )
    result.patient_map = dict(worker.patient_map)
    return result


@dataclass
class PhiReport:
    """Identifying data found by :func:`phi_report`.

    Attributes
    ----------
    findings
        pandas DataFrame with columns file, tag, keyword, value, reason.
    files_checked
        How many DICOM files were read.
    errors
        Files that could not be read.
    """

    findings: Any
    files_checked: int
    errors: List[Any] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when no identifying data were found."""
        return len(self.findings) == 0

    def summary(self) -> Any:
        """Count of findings per attribute (a pandas Series)."""
        return self.findings.groupby("keyword").size().sort_values(ascending=False)

    def __repr__(self) -> str:
        state = "no identifying data found" if self.clean else f"{len(self.findings)} finding(s) in {self.findings['file'].nunique()} file(s)"
        return f"<PhiReport: {self.files_checked} file(s) checked, {state}>"


def _mask(value: str) -> str:
    value = str(value)
    if len(value) <= 2:
        return "*" * len(value)
    return value[0] + "*" * (min(len(value), 12) - 2) + value[-1]


def phi_report(path: PathLike, *, show_values: bool = False) -> PhiReport:
    """List the identifying data still present in a DICOM file or folder.

    Parameters
    ----------
    path
        A file or a folder (searched recursively).
    show_values
        Show the values in full (for an instructor); masked by default.

    Returns
    -------
    PhiReport
        ``.findings`` lists each non-empty identifying attribute, private tag and
        ``BurnedInAnnotation = YES`` flag; ``.clean`` is True when there are none.

    Examples
    --------
    >>> import pydicom.data
    >>> rep = phi_report(pydicom.data.get_testdata_file("CT_small.dcm"))
    >>> rep.clean, "PatientName" in set(rep.findings["keyword"])
    (False, True)
    """
    import pandas as pd

    from .image import LoadError
    from .read import read_dataset

    path = Path(path)
    if not path.exists():
        raise DicomError("no such file or folder", path)
    rows: List[Dict[str, str]] = []
    errors: List[Any] = []
    checked = 0
    for file in _iter_files(path):
        try:
            ds = read_dataset(file, stop_before_pixels=True)
        except RadnbError as exc:
            if path.is_dir() and type(exc).__name__ == "NotDicomError":
                continue
            errors.append(LoadError(file, exc))
            continue
        checked += 1
        removed = str(getattr(ds, "PatientIdentityRemoved", "")).upper() == "YES"

        def visit(dataset: Any, prefix: str = "") -> None:
            for elem in dataset:
                if elem.VR == "SQ":
                    for item in elem.value:
                        visit(item, prefix + elem.keyword + ">")
                    continue
                if elem.tag.is_private:
                    rows.append(dict(file=str(file), tag=str(elem.tag), keyword=prefix + (elem.name or "private"),
                                     value="(private)", reason="private attribute (may hide identifiers)"))
                    continue
                if elem.keyword in ("PatientName", "PatientID") and removed and str(elem.value).startswith("ANON-"):
                    continue  # a radnb pseudonym
                if is_phi(elem) and elem.VR != "UI" and elem.value not in (None, "", b""):
                    value = str(elem.value)
                    rows.append(dict(file=str(file), tag=str(elem.tag), keyword=prefix + elem.keyword,
                                     value=value if show_values else _mask(value), reason="identifying attribute"))

        visit(ds)
        if str(getattr(ds, "BurnedInAnnotation", "")).upper() == "YES":
            rows.append(dict(file=str(file), tag="(0028,0301)", keyword="BurnedInAnnotation", value="YES",
                             reason="text may be burned into the pixels: check the image itself"))
    findings = pd.DataFrame(rows, columns=["file", "tag", "keyword", "value", "reason"])
    return PhiReport(findings=findings, files_checked=checked, errors=errors)
