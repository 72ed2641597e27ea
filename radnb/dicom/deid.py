"""De-identification after DICOM PS3.15 Annex E, the Basic Application Level Confidentiality Profile.

The profile's Table E.1-1 lists every attribute that can identify a patient and
what to do with it: remove it (X), empty it (Z), put a dummy value in it (D),
replace a UID consistently (U), and conditional codes (X/Z, X/D, Z/D, X/Z/D,
X/Z/U*). radnb keeps that table as data (``data/annex_e_basic_profile.tsv``,
edition and sources in ``data/annex_e_basic_profile.md``) and applies it to every
attribute at every depth of nested sequences. On top of the table:

- private attributes (odd groups), curve data (groups 50xx) and whole overlay
  groups (60xx: bitmaps, comments, labels) are removed;
- every person name (VR ``PN``) and every UID the table does not list are treated
  the same way as listed ones (removed, remapped), since vendors add new ones;
- UIDs are replaced by new UIDs derived from the original and a secret salt, so the
  slices of a study still belong together and references between files resolve;
- ``PatientID``/``PatientName`` become a pseudonym (same patient, same salt, same pseudonym);
- the file meta is rewritten (radnb's implementation UID, no source/sending AE titles)
  and the 128-byte preamble is zeroed;
- ``PatientIdentityRemoved``, ``DeidentificationMethod``,
  ``DeidentificationMethodCodeSequence`` (the profile and every option used) and
  ``LongitudinalTemporalInformationModified`` record what was done.

Conditional codes resolve to the least-retaining choice that keeps the attribute
present: X/Z, Z/D and X/Z/D empty it, X/D puts a dummy value in it, X/Z/U* keeps the
sequence and replaces the UIDs inside. A sequence whose action is D is emptied
(a dummy item would need content the IOD prescribes).

The profile's options are keyword arguments of :func:`deidentify`, all off by
default. Not offered: Retain Safe Private (it needs the standard's list of safe
private attributes, Table E.3.10-1, which radnb does not ship), Clean Graphics, Clean
Pixel Data and Clean Recognizable Visual Features (they need a look at the image).
Pixel data are never changed: text burned into the image is reported by
:func:`phi_report`, not removed.

Examples
--------
>>> is_phi("PatientName"), is_phi("Rows"), is_phi("CurrentPatientLocation")
(True, False, True)
>>> profile_table()[0x00100010].basic, PROFILE_EDITION
('Z', 'DICOM PS3.15 2026d Table E.1-1')
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import re
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..errors import DicomError, InvalidArgumentError, RadnbError

PathLike = Union[str, Path]

PROFILE_EDITION = "DICOM PS3.15 2026d Table E.1-1"
PROFILE_NAME = "radnb: PS3.15 Annex E Basic Profile (2026d)"
TABLE_FILE = Path(__file__).with_name("data") / "annex_e_basic_profile.tsv"

# option keyword argument -> (column code in the table, pydicom code name in CID 7050)
OPTIONS: Dict[str, Tuple[str, str]] = {
    "retain_uids": ("uids", "RetainUidsOption"),
    "retain_device_identity": ("dev", "RetainDeviceIdentityOption"),
    "retain_institution_identity": ("inst", "RetainInstitutionIdentityOption"),
    "retain_patient_characteristics": ("pat", "RetainPatientCharacteristicsOption"),
    "retain_long_full_dates": ("fd", "RetainLongitudinalTemporalInformationFullDatesOption"),
    "retain_long_modified_dates": ("md", "RetainLongitudinalTemporalInformationModifiedDatesOption"),
    "clean_descriptors": ("desc", "CleanDescriptorsOption"),
    "clean_structured_content": ("struct", "CleanStructuredContentOption"),
}
# attributes kept by the Retain Patient Characteristics option (for callers of the old constant)
PATIENT_CHARACTERISTICS = ("PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup")

# UIDs that name a class or an encoding, not an instance: never remapped
_NEVER_REMAP = {"SOPClassUID", "MediaStorageSOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID",
                "ImplementationClassUID", "SOPClassesInStudy", "CodingSchemeUID", "ReferencedSOPClassUIDInFile",
                "AffectedSOPClassUID", "RequestedSOPClassUID", "ReferencedTransferSyntaxUIDInFile",
                "MappingResourceUID", "ContextGroupExtensionCreatorUID", "PrivateInformationCreatorUID"}
_STANDARD_UID_ROOT = "1.2.840.10008."
# file meta attributes that identify the sender, not the image
_META_DROP = ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle",
              "SourcePresentationAddress", "SendingPresentationAddress", "ReceivingPresentationAddress",
              "PrivateInformationCreatorUID", "PrivateInformation")
IMPLEMENTATION_VERSION_NAME = "RADNB_0_1"
# Modalities and SOP classes whose pixels often carry burned-in text (names, dates) without
# BurnedInAnnotation saying so: ultrasound, secondary capture and scanned documents, photographs,
# endoscopy/microscopy, ophthalmic photographs, panoramic dental, other.
BURNED_IN_RISK_MODALITIES = {"US", "IVUS", "SC", "OT", "DOC", "XC", "ES", "GM", "SM", "OP", "PX", "VL"}
_SECONDARY_CAPTURE_ROOT = "1.2.840.10008.5.1.4.1.1.7"

_TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}
_DUMMY_BY_VR: Dict[str, Any] = {
    "PN": "ANONYMIZED", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "ST": "ANONYMIZED", "LT": "ANONYMIZED",
    "UT": "ANONYMIZED", "UC": "ANONYMIZED", "CS": "ANONYMIZED", "AE": "ANONYMIZED", "UR": "",
    "DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "DS": "0", "IS": "0",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
}
_PSEUDONYM_PREFIX = "ANON-"


@dataclass(frozen=True)
class ProfileRule:
    """One row of Table E.1-1.

    Attributes
    ----------
    tag
        The tag as an int (None for the wildcard rows).
    basic
        The Basic Profile action code (``X``, ``Z``, ``D``, ``U``, ``X/Z``, ...).
    options
        Option column code -> action (``K``, ``C``, ``X``), e.g. ``{"dev": "K"}``.
    keyword, name
        The attribute's keyword and name.
    """

    tag: Optional[int]
    basic: str
    options: Dict[str, str]
    keyword: str
    name: str

    def action(self, enabled: Iterable[str] = ()) -> str:
        """The action to apply given the enabled option codes (K beats C beats the basic action).

        >>> profile_table()[0x00181000].action(), profile_table()[0x00181000].action({"dev"})
        ('Z', 'K')
        """
        chosen = [self.options[o] for o in enabled if o in self.options]
        if "K" in chosen:
            return "K"
        if "C" in chosen:
            return "C"
        if "X" in chosen:
            return "X"
        return _resolve(self.basic)


def _resolve(code: str) -> str:
    """A conditional code -> the action radnb applies (see the module docstring)."""
    if code in ("X/Z", "Z/D", "X/Z/D"):
        return "Z"
    if code == "X/D":
        return "D"
    if code == "X/Z/U*":
        return "U*"
    return code


@functools.lru_cache(maxsize=None)
def _load_table() -> Tuple[Dict[int, ProfileRule], Dict[str, ProfileRule]]:
    rows: Dict[int, ProfileRule] = {}
    wildcards: Dict[str, ProfileRule] = {}
    with open(TABLE_FILE, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if header[:3] != ["tag", "basic", "options"]:
            raise RadnbError(f"{TABLE_FILE}: unexpected header {header}; the de-identification table is damaged")
        for line in fh:
            tag, basic, options, _source, keyword, name = line.rstrip("\n").split("\t")
            opts = dict(item.split("=") for item in options.split())
            if any(ch in tag for ch in "XG"):
                wildcards[tag] = ProfileRule(None, basic, opts, keyword, name)
            else:
                rows[int(tag, 16)] = ProfileRule(int(tag, 16), basic, opts, keyword, name)
    return rows, wildcards


def profile_table() -> Dict[int, ProfileRule]:
    """Table E.1-1 as ``{tag: ProfileRule}`` (wildcard rows excluded; they are rules in code).

    Examples
    --------
    >>> rules = profile_table()
    >>> len(rules) > 600, rules[0x00380300].basic, rules[0x0040A730].basic
    (True, 'X', 'D')
    """
    return _load_table()[0]


def _tag_of(tag: Any) -> Optional[int]:
    from pydicom.datadict import tag_for_keyword
    from pydicom.tag import Tag

    if isinstance(tag, str) and not tag.startswith("("):
        value = tag_for_keyword(tag)
        if value is not None:
            return int(value)
        for rule in profile_table().values():  # attributes newer than pydicom's dictionary
            if rule.keyword == tag:
                return rule.tag
        return None
    try:
        return int(Tag(tag))
    except Exception:
        return None


def _is_curve(tag: int) -> bool:
    group = tag >> 16
    return 0x5000 <= group <= 0x50FF and group % 2 == 0


def _is_overlay(tag: int) -> bool:
    group = tag >> 16
    return 0x6000 <= group <= 0x60FF and group % 2 == 0


def _is_private(tag: int) -> bool:
    return (tag >> 16) % 2 == 1


def is_phi(tag: Any, vr: Optional[str] = None) -> bool:
    """Whether a DICOM attribute can identify a patient under PS3.15 Annex E (Table E.1-1).

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
    >>> is_phi(0x60003000), is_phi(0x00091001)  # overlay data, a private attribute
    (True, True)
    """
    from pydicom.dataelem import DataElement

    if isinstance(tag, DataElement):
        vr = vr or tag.VR
        tag = tag.tag
    number = _tag_of(tag)
    if vr == "PN":
        return True
    if number is None:
        return False
    return number in profile_table() or _is_private(number) or _is_curve(number) or _is_overlay(number)


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
        Things a person must check (e.g. text that may be burned into the pixels).
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


def _multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


class _Deidentifier:
    def __init__(self, salt: str, keep: Sequence[str], options: Dict[str, bool]):
        self.salt = salt
        self.options = {name for name, on in options.items() if on}
        self.codes = {OPTIONS[name][0] for name in self.options}
        self.keep: set = set()
        unknown = []
        for keyword in keep:
            number = _tag_of(keyword)
            if number is None:
                unknown.append(str(keyword))
            else:
                self.keep.add(number)
        if unknown:
            raise InvalidArgumentError(f"Unknown DICOM keyword(s) in keep=: {', '.join(unknown)}")
        self.uid_map: Dict[str, str] = {}
        self.patient_map: Dict[str, str] = {}
        self.table = profile_table()
        self.identifiers: List[str] = []
        self.shift_days = 0

    # --- replacements -------------------------------------------------------------------
    def uid(self, value: str) -> str:
        from pydicom.uid import generate_uid

        value = str(value).strip("\0 ")
        if not value or value.startswith(_STANDARD_UID_ROOT):
            return value
        if value not in self.uid_map:
            self.uid_map[value] = str(generate_uid(entropy_srcs=[self.salt, value]))
        return self.uid_map[value]

    def pseudonym(self, patient_id: str) -> str:
        if patient_id not in self.patient_map:
            digest = hashlib.sha256(f"{self.salt}|{patient_id}".encode()).hexdigest()[:10].upper()
            self.patient_map[patient_id] = f"{_PSEUDONYM_PREFIX}{digest}"
        return self.patient_map[patient_id]

    def _patient_shift(self, patient_id: str) -> int:
        """Days every date of this patient moves back (1 to 3650): the same for all their files."""
        digest = hashlib.sha256(f"{self.salt}|shift|{patient_id}".encode()).hexdigest()
        return 1 + int(digest[:8], 16) % 3650

    def _shift(self, vr: str, value: Any) -> Any:
        def one(text: str) -> str:
            text = str(text)
            try:
                day = _dt.datetime.strptime(text[:8], "%Y%m%d").date()
            except ValueError:
                return ""
            return (day - _dt.timedelta(days=self.shift_days)).strftime("%Y%m%d") + text[8:]

        if vr not in ("DA", "DT"):
            return value  # times of day carry no date: kept with the modified dates option
        return [one(v) for v in value] if _multi(value) else one(value)

    def _scrub(self, text: Any) -> Any:
        """The Clean action for text: known identifiers of this patient replaced by '***'."""
        if _multi(text):
            return [self._scrub(t) for t in text]
        if not isinstance(text, str) or not self.identifiers:
            return text
        pattern = "|".join(re.escape(s) for s in self.identifiers)
        return re.sub(pattern, "***", text, flags=re.IGNORECASE)

    def _collect_identifiers(self, ds: Any) -> None:
        found = set()

        def visit(dataset: Any) -> None:
            for elem in dataset:
                if elem.VR == "SQ":
                    for item in elem.value or []:
                        visit(item)
                    continue
                if elem.VR == "PN" and elem.value:
                    for name in (elem.value if _multi(elem.value) else [elem.value]):
                        found.update(p for p in re.split(r"[\^= ,]+", str(name)) if len(p) >= 3)
                elif elem.keyword in ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID",
                                      "PatientBirthDate", "IssuerOfPatientID", "MedicalRecordLocator",
                                      "AdmissionID", "PatientAddress", "PatientTelephoneNumbers") and elem.value:
                    for value in (elem.value if _multi(elem.value) else [elem.value]):
                        if len(str(value).strip()) >= 3:
                            found.add(str(value).strip())

        visit(ds)
        self.identifiers = sorted(found, key=len, reverse=True)

    # --- the walk -----------------------------------------------------------------------
    def clean(self, ds: Any) -> None:
        patient_id = str(getattr(ds, "PatientID", "") or "")
        pseudonym = self.pseudonym(patient_id or "unknown")
        self.shift_days = self._patient_shift(patient_id or "unknown")
        self._collect_identifiers(ds)
        meta = getattr(ds, "file_meta", None)
        old_meta_uid = str(getattr(meta, "MediaStorageSOPInstanceUID", "") or "") if meta is not None else ""
        self._walk(ds, scrub_text=False)
        if 0x00100010 not in self.keep:
            ds.PatientName = pseudonym
        if 0x00100020 not in self.keep:
            ds.PatientID = pseudonym
        self._record(ds)
        self._rewrite_meta(ds, old_meta_uid)
        ds.preamble = b"\0" * 128

    def _apply_value(self, ds: Any, elem: Any, action: str, scrub_text: bool) -> None:
        vr = elem.VR
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = None if vr not in ("SQ",) else []
        elif action == "D":
            if vr == "UI":
                elem.value = self._remap(elem.value)
            elif vr == "SQ":
                elem.value = []
            else:
                elem.value = _DUMMY_BY_VR.get(vr, b"" if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN") else None)
        elif action in ("U", "U*"):
            if vr == "UI" and not ("uids" in self.codes):
                elem.value = self._remap(elem.value)
        elif action == "C":
            if vr in ("DA", "DT", "TM") and "md" in self.codes:
                elem.value = self._shift(vr, elem.value)
            elif vr in _TEXT_VRS and vr != "PN":
                elem.value = self._scrub(elem.value)
            elif vr == "PN":
                elem.value = _DUMMY_BY_VR["PN"]
            elif vr in ("DA", "DT", "TM"):
                elem.value = None
        elif action == "K" and scrub_text and vr in _TEXT_VRS:
            elem.value = self._scrub(elem.value)

    def _remap(self, value: Any) -> Any:
        if value in (None, ""):
            return value
        if _multi(value):
            return [self.uid(v) for v in value]
        return self.uid(value)

    def _walk(self, ds: Any, scrub_text: bool) -> None:
        for elem in list(ds):
            tag = int(elem.tag)
            if tag in self.keep:
                continue
            if _is_private(tag) or _is_curve(tag) or _is_overlay(tag):
                del ds[elem.tag]
                continue
            rule = self.table.get(tag)
            vr = elem.VR
            if rule is None:
                if vr == "SQ":
                    for item in elem.value or []:
                        self._walk(item, scrub_text)
                elif vr == "PN" and elem.value:
                    del ds[elem.tag]  # every person name, listed or not
                elif vr == "UI" and elem.keyword not in _NEVER_REMAP and "uids" not in self.codes:
                    elem.value = self._remap(elem.value)
                elif scrub_text and vr in _TEXT_VRS:
                    elem.value = self._scrub(elem.value)
                continue
            action = rule.action(self.codes)
            if vr == "SQ":
                if action in ("K", "U*", "C"):
                    for item in elem.value or []:
                        self._walk(item, scrub_text or action == "C")
                else:
                    self._apply_value(ds, elem, action, scrub_text)
                continue
            self._apply_value(ds, elem, action, scrub_text)

    def _record(self, ds: Any) -> None:
        from pydicom.dataset import Dataset
        from pydicom.sr.codedict import codes

        ds.PatientIdentityRemoved = "YES"
        methods = [PROFILE_NAME] + [name for name in sorted(self.options)]
        ds.DeidentificationMethod = methods if len(methods) > 1 else methods[0]
        items = []
        for code_name in ["BasicApplicationConfidentialityProfile"] + [OPTIONS[o][1] for o in sorted(self.options)]:
            code = getattr(codes.DCM, code_name)
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = items
        if "retain_long_full_dates" in self.options:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif "retain_long_modified_dates" in self.options:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"

    def _rewrite_meta(self, ds: Any, old_meta_uid: str) -> None:
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

        old = getattr(ds, "file_meta", None)
        meta = FileMetaDataset()
        meta.FileMetaInformationVersion = b"\x00\x01"
        sop_class = getattr(ds, "SOPClassUID", None) or (getattr(old, "MediaStorageSOPClassUID", None) if old is not None else None)
        if sop_class:
            meta.MediaStorageSOPClassUID = sop_class
        instance = getattr(ds, "SOPInstanceUID", None) or (self.uid(old_meta_uid) if old_meta_uid else None)
        if instance:
            meta.MediaStorageSOPInstanceUID = instance
        if old is not None and "TransferSyntaxUID" in old:
            meta.TransferSyntaxUID = old.TransferSyntaxUID
        meta.ImplementationClassUID = generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["radnb implementation"])
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        ds.file_meta = meta


def _iter_files(src: Path) -> List[Path]:
    if src.is_file():
        return [src]
    return sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))


def _verify_written(path: Path, ds: Any) -> Optional[str]:
    """Read the written copy back: a damaged original (e.g. a length field that swallows the
    elements after it) can make the copy parse differently from what was cleaned."""
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back = pydicom.dcmread(path, stop_before_pixels=True)
            removed = str(back.get("PatientIdentityRemoved", "") or "")
            instance = str(back.get("SOPInstanceUID", "") or "")
    except Exception as exc:
        return f"the written copy does not read back ({type(exc).__name__}: {exc})"
    if removed != "YES" or instance != str(getattr(ds, "SOPInstanceUID", "") or ""):
        return "the written copy reads back differently from what was cleaned: the original is damaged"
    return None


def burned_in_risk(ds: Any) -> Optional[str]:
    """Why this image may carry identifying text in its pixels, or None.

    ``BurnedInAnnotation = YES`` says so; modalities and SOP classes that usually
    carry burned-in text (ultrasound, secondary capture, documents, photographs)
    count too unless the file says ``BurnedInAnnotation = NO``.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.Modality = "US"
    >>> burned_in_risk(ds).startswith("ultrasound")
    True
    >>> ds.BurnedInAnnotation = "NO"; burned_in_risk(ds) is None
    True
    """
    flag = str(getattr(ds, "BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return "the file says BurnedInAnnotation = YES: text such as a name is burned into the pixels"
    if str(getattr(ds, "RecognizableVisualFeatures", "") or "").strip().upper() == "YES":
        return "the file says RecognizableVisualFeatures = YES: the image may show a face or other identifying features"
    if flag == "NO":
        return None
    modality = str(getattr(ds, "Modality", "") or "").strip().upper()
    sop_class = str(getattr(ds, "SOPClassUID", "") or "")
    if modality in ("US", "IVUS"):
        return "ultrasound images usually have the patient's name, ID or date burned into the pixels"
    if sop_class.startswith(_SECONDARY_CAPTURE_ROOT) or modality in ("SC", "OT", "DOC"):
        return "secondary captures and scanned documents often show names and dates in the pixels"
    if modality in BURNED_IN_RISK_MODALITIES:
        return f"{modality} images (photographs, endoscopy, microscopy) often carry burned-in text"
    return None


def deidentify(
    src: PathLike,
    dst: PathLike,
    *,
    salt: Optional[str] = None,
    keep: Iterable[str] = (),
    retain_patient_characteristics: bool = False,
    retain_device_identity: bool = False,
    retain_institution_identity: bool = False,
    retain_uids: bool = False,
    retain_long_full_dates: bool = False,
    retain_long_modified_dates: bool = False,
    clean_descriptors: bool = False,
    clean_structured_content: bool = False,
    overwrite: bool = False,
) -> DeidResult:
    """Write de-identified copies of a DICOM file or folder; the originals are never touched.

    Applies the whole of PS3.15 Annex E Table E.1-1 (see the module docstring).
    Every option below is one of the profile's options, off by default, and is
    recorded in the output's ``DeidentificationMethodCodeSequence``.

    Parameters
    ----------
    src
        A DICOM file or a folder (searched recursively; non-DICOM files are skipped).
    dst
        Output file (when ``src`` is a file) or folder (the sub-folder layout is kept,
        file names too — rename files yourself if their names contain identifiers).
    salt
        Secret that makes pseudonyms, new UIDs and date shifts reproducible: use the
        same salt for a follow-up study so it links to the first. Random when omitted.
    keep
        Keywords to leave untouched (e.g. ``["StudyDate"]``); outside the profile, so
        not recorded as an option: say so when you share the data.
    retain_patient_characteristics
        Keep sex, age, size, weight, ethnic group, pregnancy and smoking status.
    retain_device_identity
        Keep device serial numbers, station names, detector and plate IDs.
    retain_institution_identity
        Keep institution names, addresses and departments.
    retain_uids
        Keep the original UIDs (no remapping).
    retain_long_full_dates
        Keep every date and time unchanged.
    retain_long_modified_dates
        Shift every date of a patient back by the same number of days (1 to 3650,
        from the salt and the PatientID), so intervals between studies survive.
    clean_descriptors
        Keep descriptions (study, series, protocol, comments) with this patient's
        names and IDs blanked out of them, instead of removing them.
    clean_structured_content
        Keep structured report content (ContentSequence etc.), cleaned attribute by
        attribute, with this patient's names and IDs blanked out of its text.
    overwrite
        Allow writing over existing output files.

    Returns
    -------
    DeidResult

    Examples
    --------
    >>> import tempfile, pydicom, pydicom.data, radnb
    >>> out = tempfile.mkdtemp()
    >>> res = radnb.deidentify(pydicom.data.get_testdata_file("CT_small.dcm"), out + "/ct.dcm")
    >>> radnb.phi_report(out).clean
    True
    >>> pydicom.dcmread(out + "/ct.dcm").DeidentificationMethodCodeSequence[0].CodeValue
    '113100'
    """
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.exists():
        raise DicomError("no such file or folder", src)
    if src == dst:
        raise InvalidArgumentError("The output must differ from the input: de-identification never overwrites originals.")
    if src.is_dir() and (dst == src or src in dst.parents):
        raise InvalidArgumentError(f"Write the de-identified copies outside the original folder {src} (got {dst}).")
    if retain_long_full_dates and retain_long_modified_dates:
        raise InvalidArgumentError(
            "Choose one of retain_long_full_dates (dates unchanged) and retain_long_modified_dates (dates shifted)."
        )
    from .image import LoadError
    from .read import read_dataset

    options = dict(
        retain_patient_characteristics=retain_patient_characteristics, retain_device_identity=retain_device_identity,
        retain_institution_identity=retain_institution_identity, retain_uids=retain_uids,
        retain_long_full_dates=retain_long_full_dates, retain_long_modified_dates=retain_long_modified_dates,
        clean_descriptors=clean_descriptors, clean_structured_content=clean_structured_content,
    )
    worker = _Deidentifier(salt or secrets.token_hex(16), list(keep), options)
    result = DeidResult()
    files = _iter_files(src)
    burned: List[Tuple[str, str]] = []
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
        try:
            risk = burned_in_risk(ds)
            worker.clean(ds)
        except Exception as exc:  # a malformed value surfaces when pydicom converts it
            result.errors.append(LoadError(path, DicomError(
                f"could not be de-identified: a value in it is malformed ({type(exc).__name__}: {exc}); "
                "the file was not copied", path)))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        try:
            ds.save_as(tmp, enforce_file_format=False)
            problem = _verify_written(tmp, ds)
            if problem:
                raise ValueError(problem)
            os.replace(tmp, target)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            result.errors.append(LoadError(path, DicomError(
                f"could not be de-identified reliably, so no copy was written ({exc})", path)))
            continue
        result.written.append(target)
        if risk:
            burned.append((path.name, risk))
    if burned:
        result.warnings.append(
            f"{len(burned)} file(s) may show identifying text in the image itself (e.g. {burned[0][0]}: "
            f"{burned[0][1]}). Editing the header does not remove it: look at the images and mask or crop "
            "that text before sharing."
        )
    result.patient_map = dict(worker.patient_map)
    return result


# ----------------------------------------------------------------------------------------
# phi_report
# ----------------------------------------------------------------------------------------
_ADVICE_DEID = "run radnb.deidentify on these files and share the copies"


@dataclass
class PhiReport:
    """Identifying data found by :func:`phi_report`.

    Attributes
    ----------
    findings
        pandas DataFrame with columns file, tag, keyword, value, reason, where, advice:
        ``keyword`` is the attribute (``Seq>Keyword`` when nested), ``where`` the full
        path with item numbers, ``advice`` what to do about it.
    files_checked
        How many DICOM files were read.
    errors
        Files that could not be read (they were not checked: the report is not clean).
    """

    findings: Any
    files_checked: int
    errors: List[Any] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True only when every file was read and nothing identifying was found."""
        return len(self.findings) == 0 and not self.errors

    def summary(self) -> Any:
        """Count of findings per attribute (a pandas Series)."""
        return self.findings.groupby("keyword").size().sort_values(ascending=False)

    def explain(self) -> str:
        """The report in plain words: what was found, where, and what to do."""
        if self.clean:
            return (f"Checked {self.files_checked} file(s): no attribute of the DICOM de-identification profile "
                    "holds a value, and no image is known to carry burned-in text.")
        lines = [f"Checked {self.files_checked} file(s)."]
        if len(self.findings):
            lines.append(f"{len(self.findings)} finding(s) in {self.findings['file'].nunique()} file(s):")
            for (reason, advice), group in self.findings.groupby(["reason", "advice"], sort=False):
                names = ", ".join(sorted(set(group["keyword"]))[:6])
                more = " ..." if group["keyword"].nunique() > 6 else ""
                lines.append(f"- {reason} ({len(group)}x: {names}{more}). What to do: {advice}.")
        if self.errors:
            lines.append(f"{len(self.errors)} file(s) could not be read, so they were not checked: "
                         + "; ".join(str(e) for e in self.errors[:3]))
        return "\n".join(lines)

    def __repr__(self) -> str:
        if self.clean:
            state = "no identifying data found"
        else:
            parts = []
            if len(self.findings):
                parts.append(f"{len(self.findings)} finding(s) in {self.findings['file'].nunique()} file(s)")
            if self.errors:
                parts.append(f"{len(self.errors)} file(s) unreadable, not checked")
            state = ", ".join(parts) + " — see .explain()"
        return f"<PhiReport: {self.files_checked} file(s) checked, {state}>"


def _mask(value: str) -> str:
    value = str(value)
    if len(value) <= 2:
        return "*" * len(value)
    return value[0] + "*" * (min(len(value), 12) - 2) + value[-1]


def _has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (bytes, bytearray)):
        return len(value) > 0
    if _multi(value):
        return any(_has_value(v) for v in value)
    return str(value).strip("\0 ") != ""


def _is_dummy(vr: str, value: Any) -> bool:
    dummy = _DUMMY_BY_VR.get(vr)
    if dummy is None:
        return False
    values = list(value) if _multi(value) else [value]
    return all(str(v).strip() == str(dummy) for v in values)


@functools.lru_cache(maxsize=None)
def _option_by_code() -> Dict[str, Tuple[str, str]]:
    """CID 7050 code value -> (table column, the option's name in the standard)."""
    from pydicom.sr.codedict import codes

    out = {}
    for column, code_name in OPTIONS.values():
        code = getattr(codes.DCM, code_name)
        out[code.value] = (column, code.meaning)
    return out


def _declared(ds: Any) -> Dict[str, Any]:
    removed = str(getattr(ds, "PatientIdentityRemoved", "") or "").upper() == "YES"
    values = set()
    for item in getattr(ds, "DeidentificationMethodCodeSequence", None) or []:
        values.add(str(getattr(item, "CodeValue", "")))
    options = {column: meaning for value, (column, meaning) in _option_by_code().items() if value in values}
    return {"removed": removed, "retain_uids": "113110" in values, "options": options if removed else {}}


def _scan_file(ds: Any, file: Path, table: Dict[int, ProfileRule], show_values: bool, rows: List[Dict[str, str]]) -> None:
    """Append phi_report's findings for one dataset to ``rows``."""
    declared = _declared(ds)

    def add(tag: Any, keyword: str, where: str, value: Any, reason: str, advice: str = _ADVICE_DEID) -> None:
        text = value if isinstance(value, str) else ("(binary data)" if isinstance(value, (bytes, bytearray)) else str(value))
        rows.append(dict(file=str(file), tag=str(tag), keyword=keyword, value=text if show_values else _mask(text),
                         reason=reason, where=where, advice=advice))

    def visit(dataset: Any, keyword_prefix: str = "", where_prefix: str = "") -> None:
        for elem in dataset:
            tag = int(elem.tag)
            name = elem.keyword or (table[tag].keyword if tag in table else "") or str(elem.tag)
            keyword, where = keyword_prefix + name, where_prefix + name
            try:
                value = elem.value
            except Exception:  # a malformed value: report it, since its content is unknown
                add(elem.tag, keyword, where, "(unreadable)", "an attribute whose value cannot be read (its content is unknown)")
                continue
            if _is_private(tag):
                if elem.VR == "SQ" or _has_value(value):
                    add(elem.tag, keyword_prefix + (elem.name or "private"), where, "(private)",
                        "private (vendor) attribute: may hide names and IDs")
                continue
            if _is_curve(tag) and _has_value(value):
                add(elem.tag, keyword, where, value, "curve data (group 50xx)")
                continue
            if _is_overlay(tag):
                if (tag & 0xFFFF) in (0x3000, 0x4000, 0x0022, 0x1500) and _has_value(value):
                    add(elem.tag, keyword, where, value, "overlay data or text (group 60xx): may show names or marks")
                continue
            rule = table.get(tag)
            if elem.VR == "SQ":
                items = value or []
                action = rule.action() if rule else None
                kept_by = [meaning for column, meaning in declared["options"].items()
                           if rule is not None and rule.options.get(column) in ("K", "C")]
                if rule and action not in ("U*", "K") and len(items) and kept_by:
                    add(elem.tag, keyword, where, f"({len(items)} item(s))",
                        f"sequence kept by the {kept_by[0]} (declared in the file)",
                        "share it only if your data agreement allows that option; otherwise de-identify without it")
                    continue
                if rule and action not in ("U*", "K") and len(items):
                    add(elem.tag, keyword, where, f"({len(items)} item(s))",
                        f"sequence the profile {'removes' if action == 'X' else 'empties'} still has content")
                    continue
                for k, item in enumerate(items):
                    visit(item, keyword + ">", f"{where}[{k}] > ")
                continue
            if not _has_value(value):
                continue
            if rule is None and elem.VR != "PN":
                continue
            if elem.VR == "UI" or (rule is not None and rule.action() in ("U", "U*")):
                if declared["removed"] and not declared["retain_uids"]:
                    continue  # the file declares its UIDs were replaced
                add(elem.tag, keyword, where, value, "original UID (links the file to the hospital's records)")
                continue
            if _is_dummy(elem.VR, value):
                continue
            if tag in (0x00100010, 0x00100020) and declared["removed"] and str(value).startswith(_PSEUDONYM_PREFIX):
                continue  # a radnb pseudonym
            kept_by = [meaning for column, meaning in declared["options"].items()
                       if rule is not None and rule.options.get(column) in ("K", "C")]
            if kept_by:
                add(elem.tag, keyword, where, value, f"identifying attribute kept by the {kept_by[0]} (declared in the file)",
                    "share it only if your data agreement allows that option; otherwise de-identify without it")
                continue
            add(elem.tag, keyword, where, value,
                "identifying attribute" if rule is not None else "person name")

    visit(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for keyword in _META_DROP:
            if keyword in meta and _has_value(meta[keyword].value):
                add(meta[keyword].tag, f"file meta>{keyword}", f"file meta > {keyword}", meta[keyword].value,
                    "file meta names the sending system or holds private information")
        meta_uid = str(getattr(meta, "MediaStorageSOPInstanceUID", "") or "")
        sop_uid = str(getattr(ds, "SOPInstanceUID", "") or "")
        if meta_uid and sop_uid and meta_uid != sop_uid:
            add("(0002,0003)", "file meta>MediaStorageSOPInstanceUID", "file meta > MediaStorageSOPInstanceUID",
                meta_uid, "file meta holds an instance UID that differs from the dataset's (probably the original)")
    preamble = getattr(ds, "preamble", None)
    if preamble and any(preamble):
        add("preamble", "preamble", "128-byte preamble", bytes(preamble),
            "the 128-byte preamble holds data (it can carry text or a TIFF header)")
    risk = burned_in_risk(ds)
    if risk:
        add("(0028,0301)", "BurnedInAnnotation", "pixel data", str(getattr(ds, "BurnedInAnnotation", "") or "(absent)"),
            f"burned-in text risk: {risk}",
            "look at the image; mask or crop the text, or leave the image out, before sharing")


def phi_report(path: PathLike, *, show_values: bool = False) -> PhiReport:
    """List the identifying data still present in a DICOM file or folder.

    Uses the same table as :func:`deidentify` (PS3.15 Annex E Table E.1-1) at every
    depth of nested sequences, plus private attributes, curve and overlay groups,
    the file meta, the 128-byte preamble and the risk of text burned into the
    pixels (by ``BurnedInAnnotation`` and by modality). UIDs count as identifying
    unless the file declares it was de-identified without the Retain UIDs option.

    Parameters
    ----------
    path
        A file or a folder (searched recursively).
    show_values
        Show the values in full (for an instructor); masked by default.

    Returns
    -------
    PhiReport
        ``.findings`` lists each finding; ``.clean`` is True only when there are none
        and every file could be read; ``.explain()`` says it in plain words.

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
    table = profile_table()
    rows: List[Dict[str, str]] = []
    errors: List[Any] = []
    checked = 0
    for file in _iter_files(path):
        try:
            ds = read_dataset(file, defer_size="2 KB")
        except RadnbError as exc:
            if path.is_dir() and type(exc).__name__ == "NotDicomError":
                continue
            errors.append(LoadError(file, exc))
            continue
        checked += 1
        found: List[Dict[str, str]] = []
        try:
            _scan_file(ds, file, table, show_values, found)
        except Exception as exc:  # a malformed value pydicom cannot convert: the file was not fully checked
            errors.append(LoadError(file, DicomError(
                f"could not be checked completely: a value in it is malformed ({type(exc).__name__}: {exc})", file)))
        rows.extend(found)
    findings = pd.DataFrame(rows, columns=["file", "tag", "keyword", "value", "reason", "where", "advice"])
    return PhiReport(findings=findings, files_checked=checked, errors=errors)
