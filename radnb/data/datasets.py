"""Real public radiology datasets: a registry, safe downloads and loaders.

``radnb.datasets.available()`` shows what radnb knows (modality, task, size, licence,
citation, whether it is cached); ``radnb.datasets.load(name)`` downloads a dataset
once (progress bar, pinned checksum, safe extraction into the data directory) and
returns it in radnb's standard form:

* MedMNIST sets -> :class:`MedMNISTData` (numpy arrays per split, a ``labels``
  DataFrame, the paper's benchmark numbers, and ``to_folder()`` for PNG files);
* image folders (Open-i chest vs abdomen, SIIM DICOM) -> :class:`ImageDataset`
  (``.path``, ``.labels`` with ``file``/``label``/``patient_id``/``split``);
* 3D segmentation (Decathlon hippocampus) -> :class:`SegmentationDataset`.

Later calls use the cache and need no network. Offline, a clear
:class:`~radnb.data.fetch.OfflineError` names the URL, where to put a manual
download, and the synthetic alternative ``radnb.sample_data(...)``.

Examples
--------
>>> import radnb
>>> table = radnb.datasets.available()
>>> "pneumoniamnist" in set(table["name"])
True
"""
from __future__ import annotations

import difflib
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd

from ..config import data_dir
from ..errors import InvalidArgumentError, MissingDependencyError, RadnbError
from .fetch import cache_path, describe_checksum, extract, fetch

MEDMNIST_CITATION = (
    "Yang J, Shi R, Wei D, Liu Z, Zhao L, Ke B, Pfister H, Ni B. MedMNIST v2 - A large-scale lightweight "
    "benchmark for 2D and 3D biomedical image classification. Scientific Data 10, 41 (2023). "
    "doi:10.1038/s41597-022-01721-8"
)
MEDMNIST_BENCHMARK_SOURCE = "MedMNIST v2 paper (Yang et al., Sci Data 2023), benchmark table of 2D datasets"


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry: where a dataset lives, how it is checked, and how it is loaded.

    ``sha256``/``md5``/``head_md5`` are the published checksums radnb verifies; when all
    are ``None`` the first download's sha256 is recorded (trust on first use) and later
    copies must match it.
    """

    name: str
    title: str
    modality: str
    task: str  # classification / segmentation / characterisation
    url: str
    filename: str
    loader: str  # medmnist / image_folder / siim_dicom / decathlon
    licence: str
    citation: str
    short_citation: str
    homepage: str
    description: str = ""
    sha256: Optional[str] = None
    md5: Optional[str] = None
    head_md5: Optional[str] = None
    size_bytes: Optional[int] = None  # exact download size where published
    size_text: str = ""  # approximate size for display when the exact one is not known
    checksum_source: str = ""
    label_names: Dict[str, str] = field(default_factory=dict)
    benchmarks: Tuple[Tuple[str, Optional[float], Optional[float], str], ...] = ()
    extra: Dict[str, object] = field(default_factory=dict)

    @property
    def checksum(self) -> str:
        return describe_checksum(self.sha256, self.md5, self.head_md5)

    @property
    def checksum_kind(self) -> str:
        """Short label for tables: ``sha256``, ``md5``, ``size+md5(1st MiB)`` or ``first use``."""
        if self.sha256:
            return "sha256"
        if self.md5:
            return "md5"
        if self.head_md5:
            return "size+md5(1st MiB)" if self.size_bytes else "md5(1st MiB)"
        return "first use"

    @property
    def cache_dir(self) -> Path:
        return data_dir() / "datasets" / self.name

    @property
    def archive_path(self) -> Path:
        return cache_path(self.filename, f"datasets/{self.name}")


def _medmnist(name: str, title: str, modality: str, md5: str, size_text: str, description: str,
              labels: Dict[str, str], benchmarks=(), licence: str = "CC BY 4.0") -> DatasetInfo:
    return DatasetInfo(
        name=name,
        title=title,
        modality=modality,
        task="classification",
        url=f"https://zenodo.org/record/6496656/files/{name}.npz?download=1",
        filename=f"{name}.npz",
        loader="medmnist",
        licence=licence,
        citation=MEDMNIST_CITATION,
        short_citation="Yang et al., Sci Data 2023 (MedMNIST v2)",
        homepage="https://medmnist.com/",
        description=description,
        md5=md5,
        size_text=size_text,
        checksum_source="MD5 from MedMNIST's INFO dict (medmnist/info.py, v2.1.0)",
        label_names=labels,
        benchmarks=tuple(benchmarks),
    )


_ORGAN_LABELS = {str(i): n for i, n in enumerate(
    ["bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
     "lung-right", "pancreas", "spleen"])}
_CHEST_LABELS = {str(i): n for i, n in enumerate(
    ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia", "pneumothorax",
     "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"])}

# (method, AUC, ACC, note). Numbers from the MedMNIST v2 paper's table; "checked" = confirmed
# against an independent copy of the table, "unconfirmed" = not yet cross-checked.
_B = MEDMNIST_BENCHMARK_SOURCE

REGISTRY: Dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add (or replace) a dataset in the registry, e.g. a course's own data.

    Examples
    --------
    >>> from dataclasses import replace
    >>> mine = register(replace(REGISTRY["breastmnist"], name="my_breast"))
    >>> "my_breast" in REGISTRY
    True
    >>> _ = REGISTRY.pop("my_breast")
    """
    if not info.name or not info.name.replace("_", "").isalnum():
        raise InvalidArgumentError(f"Dataset name {info.name!r} must be letters, digits and underscores.")
    REGISTRY[info.name] = info
    return info


for _info in (
    _medmnist(
        "pneumoniamnist", "PneumoniaMNIST (paediatric chest X-ray, pneumonia vs normal)", "CR/DX (chest X-ray)",
        "28209eda62fecd6e6a2d98b1501bb15f", "~4.2 MB",
        "5,856 paediatric chest radiographs (Kermany et al. 2018) resized to 28x28; binary pneumonia vs normal; "
        "splits 4,708 / 524 / 624.",
        {"0": "normal", "1": "pneumonia"},
        [("ResNet-18 (28)", 0.944, 0.854, "checked"), ("ResNet-18 (224)", 0.956, 0.864, "checked"),
         ("ResNet-50 (28)", 0.948, 0.854, "checked"), ("ResNet-50 (224)", 0.962, 0.884, "checked")],
    ),
    _medmnist(
        "breastmnist", "BreastMNIST (breast ultrasound, malignant vs normal/benign)", "US (breast ultrasound)",
        "750601b1f35ba3300ea97c75c52ff8f6", "~0.56 MB",
        "780 breast ultrasound images (Al-Dhabyani et al. 2020) resized to 28x28; malignant vs normal+benign; "
        "splits 546 / 78 / 156.",
        {"0": "malignant", "1": "normal, benign"},
        [("ResNet-18 (28)", 0.901, 0.863, "checked"), ("ResNet-18 (224)", 0.891, 0.833,
                                                       "ACC checked, AUC unconfirmed")],
    ),
    _medmnist(
        "chestmnist", "ChestMNIST (NIH ChestX-ray14, 14 findings, multi-label)", "CR/DX (chest X-ray)",
        "02c8a6516a18b556561a56cbdd36c4a8", "~83 MB",
        "112,120 frontal chest radiographs of 30,805 patients (NIH ChestX-ray14) resized to 28x28; 14 text-mined "
        "labels, multi-label; official split 78,468 / 11,219 / 22,433.",
        _CHEST_LABELS,
        [("ResNet-18 (28)", 0.768, 0.947, "AUC checked; ACC cross-checked only as 'about 0.947 for every method'"),
         ("ResNet-18 (224)", 0.773, 0.947, "checked")],
    ),
    _medmnist(
        "organamnist", "OrganAMNIST (abdominal CT, 11 organs, axial)", "CT (abdomen, axial slices)",
        "866b832ed4eeba67bfb9edee1d5544e6", "~38 MB",
        "Axial crops of 11 organs from the LiTS CT scans, abdominal window, 28x28; multi-class; "
        "splits 34,581 / 6,491 / 17,778.",
        _ORGAN_LABELS,
        [("ResNet-18 (28)", 0.997, 0.935, "checked"), ("ResNet-18 (224)", 0.998, 0.951, "checked"),
         ("ResNet-50 (28)", 0.997, 0.935, "checked"), ("ResNet-50 (224)", 0.998, 0.947, "checked")],
    ),
    _medmnist(
        "organcmnist", "OrganCMNIST (abdominal CT, 11 organs, coronal)", "CT (abdomen, coronal slices)",
        "0afa5834fb105f7705a7d93372119a21", "~16 MB",
        "Coronal crops of 11 organs from the LiTS CT scans, 28x28; multi-class; splits 13,000 / 2,392 / 8,268.",
        _ORGAN_LABELS,
    ),
    _medmnist(
        "organsmnist", "OrganSMNIST (abdominal CT, 11 organs, sagittal)", "CT (abdomen, sagittal slices)",
        "e5c39f1af030238290b9557d9503af9d", "~17 MB",
        "Sagittal crops of 11 organs from the LiTS CT scans, 28x28; multi-class; splits 13,940 / 2,452 / 8,829.",
        _ORGAN_LABELS,
    ),
    DatasetInfo(
        name="chest_abdomen_xray",
        title="Chest vs abdomen radiographs (Open-i; 'Hello World Deep Learning in Medical Imaging')",
        modality="CR/DX (radiographs, PNG)",
        task="classification",
        url="https://raw.githubusercontent.com/paras42/Hello_World_Deep_Learning/master/Open_I_abd_vs_CXRs.zip",
        filename="Open_I_abd_vs_CXRs.zip",
        loader="image_folder",
        licence="Open-i (U.S. National Library of Medicine) images as redistributed in the paper's GitHub "
                "repository; check the repository and Open-i terms before reuse outside teaching",
        citation="Lakhani P, Gray DL, Pett CR, Nagy P, Shih G. Hello World Deep Learning in Medical Imaging. "
                 "J Digit Imaging 31, 283-289 (2018). doi:10.1007/s10278-018-0079-6",
        short_citation="Lakhani et al., J Digit Imaging 2018",
        homepage="https://github.com/paras42/Hello_World_Deep_Learning",
        description="75 radiographs from Open-i (chest vs abdomen): 65 train, 10 validation, plus 2 test images.",
        size_text="not published (shown once downloaded)",
        checksum_source="no published checksum: sha256 is recorded on first download (trust on first use)",
        label_names={"abdomen": "abdominal radiograph", "chest": "chest radiograph"},
    ),
    DatasetInfo(
        name="siim_small",
        title="SIIM-ACR pneumothorax, small DICOM sample (fastai)",
        modality="DX (chest X-ray, DICOM)",
        task="classification",
        url="https://s3.amazonaws.com/fast-ai-imagelocal/siim_small.tgz",
        filename="siim_small.tgz",
        loader="siim_dicom",
        licence="Derived from the SIIM-ACR Pneumothorax Segmentation challenge data (NIH ChestX-ray14 images); "
                "non-commercial research and education; see the challenge terms",
        citation="SIIM-ACR Pneumothorax Segmentation challenge (2019), small sample distributed by fast.ai "
                 "(fastai URLs.SIIM_SMALL); images from Wang X et al., ChestX-ray8, CVPR 2017.",
        short_citation="SIIM-ACR 2019 / fast.ai sample",
        homepage="https://docs.fast.ai/medical.imaging",
        description="250 chest radiographs as DICOM files labelled Pneumothorax / No Pneumothorax.",
        size_bytes=33276453,
        head_md5="2f88ac350dce1d971ecbb5ec722da75f",
        checksum_source="size and md5 of the first MiB from fastai's download_checks.py (fastai 2.8); "
                        "full-file sha256 recorded on first download",
    ),
    DatasetInfo(
        name="msd_hippocampus",
        title="Medical Segmentation Decathlon Task04 Hippocampus (3D MRI segmentation)",
        modality="MR (brain, T1 crops, NIfTI)",
        task="segmentation",
        url="https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar",
        filename="Task04_Hippocampus.tar",
        loader="decathlon",
        licence="CC BY-SA 4.0",
        citation="Antonelli M, Reinke A, Bakas S, et al. The Medical Segmentation Decathlon. Nature "
                 "Communications 13, 4128 (2022). doi:10.1038/s41467-022-30695-9; Simpson AL et al., "
                 "arXiv:1902.09063 (2019).",
        short_citation="Antonelli et al., Nat Commun 2022 (MSD)",
        homepage="http://medicaldecathlon.com/",
        description="394 small T1 MRI crops around the hippocampus (260 labelled: anterior and posterior "
                    "hippocampus).",
        md5="9d24dba78a72977dbd1d2e110310f31b",
        size_text="not published (shown once downloaded)",
        checksum_source="MD5 from MONAI's DecathlonDataset (monai/apps/datasets.py)",
        label_names={"0": "background", "1": "anterior", "2": "posterior"},
        extra={"folder": "Task04_Hippocampus"},
    ),
):
    register(_info)
del _info


# --------------------------------------------------------------------------- public API


def info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (case-insensitive; ``-`` and ``_`` alike).

    Examples
    --------
    >>> info("PneumoniaMNIST").licence
    'CC BY 4.0'
    """
    key = str(name).strip().lower().replace("-", "_")
    if key in REGISTRY:
        return REGISTRY[key]
    close = difflib.get_close_matches(key, REGISTRY.keys(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise InvalidArgumentError(
        f"Unknown dataset {name!r}.{hint} Known: {', '.join(sorted(REGISTRY))}. "
        f"For offline synthetic data use radnb.sample_data('chest_xray' | 'body_part' | 'ct').")


def is_cached(name: str) -> bool:
    """Whether the dataset's download is already in the cache (no network needed).

    Examples
    --------
    >>> is_cached("breastmnist") in (True, False)
    True
    """
    return info(name).archive_path.is_file()


def _size_on_disk(entry: DatasetInfo) -> str:
    path = entry.archive_path
    if path.is_file():
        return _human(path.stat().st_size)
    if entry.size_bytes:
        return _human(entry.size_bytes)
    return entry.size_text or "unknown"


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} GB"  # pragma: no cover


def available() -> pd.DataFrame:
    """The dataset registry as a table.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``modality``, ``task``, ``size``, ``licence``, ``citation``,
        ``cached`` (already downloaded), ``checksum`` (what the download is checked against).

    Examples
    --------
    >>> import radnb
    >>> radnb.datasets.available().columns.tolist()[:3]
    ['name', 'modality', 'task']
    """
    rows = []
    for entry in REGISTRY.values():
        rows.append({
            "name": entry.name,
            "modality": entry.modality,
            "task": entry.task,
            "size": _size_on_disk(entry),
            "licence": entry.licence if len(entry.licence) < 40 else entry.licence.split(";")[0][:37] + "...",
            "citation": entry.short_citation,
            "cached": entry.archive_path.is_file(),
            "checksum": entry.checksum_kind,
        })
    return pd.DataFrame(rows, columns=["name", "modality", "task", "size", "licence", "citation", "cached",
                                       "checksum"])


def benchmarks(name: Optional[str] = None) -> pd.DataFrame:
    """Published benchmark numbers (MedMNIST v2 paper) to compare a student's model with.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset``, ``method``, ``auc``, ``acc``, ``note``, ``source``.

    Examples
    --------
    >>> b = benchmarks("pneumoniamnist")
    >>> float(b.loc[b.method == "ResNet-18 (28)", "auc"].iloc[0])
    0.944
    """
    entries = [info(name)] if name else list(REGISTRY.values())
    rows = [
        {"dataset": e.name, "method": m, "auc": auc, "acc": acc, "note": note, "source": _B}
        for e in entries for (m, auc, acc, note) in e.benchmarks
    ]
    return pd.DataFrame(rows, columns=["dataset", "method", "auc", "acc", "note", "source"])


def _show_notice(entry: DatasetInfo) -> None:
    marker = entry.cache_dir / ".licence-shown"
    if marker.exists():
        return
    print(
        f"radnb: {entry.title}\n"
        f"  Licence:  {entry.licence}\n"
        f"  Cite:     {entry.citation}\n"
        f"  Homepage: {entry.homepage}\n"
        f"  Checksum: {entry.checksum} ({entry.checksum_source})"
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("shown\n")


def download(name: str, *, progress: bool = True, timeout: float = 10, force: bool = False) -> Path:
    """Download (or reuse) a dataset's file and return its verified path in the cache.

    Examples
    --------
    >>> download("breastmnist")  # doctest: +SKIP
    PosixPath('.../datasets/breastmnist/breastmnist.npz')
    """
    entry = info(name)
    return fetch(entry.url, entry.sha256, entry.filename, subdir=f"datasets/{entry.name}", timeout=timeout,
                 expected_size=entry.size_bytes, progress=progress, md5=entry.md5, head_md5=entry.head_md5,
                 force=force)


def load(name: str, *, progress: bool = True, timeout: float = 10, force: bool = False):
    """Download (once), verify, extract and load a public dataset in radnb's standard form.

    Parameters
    ----------
    name
        A name from :func:`list` (e.g. ``"pneumoniamnist"``, ``"siim_small"``).
    progress
        Show a progress bar while downloading.
    timeout
        Seconds to wait for the server before reporting that you are offline.
    force
        Download and extract again even if cached.

    Returns
    -------
    MedMNISTData | ImageDataset | SegmentationDataset

    Raises
    ------
    OfflineError
        Not cached and no network: the message says where to put a manual download
        and how to use ``radnb.sample_data`` instead.

    Examples
    --------
    >>> import radnb
    >>> ds = radnb.datasets.load("pneumoniamnist")   # doctest: +SKIP
    >>> images, labels = ds.arrays("train")            # doctest: +SKIP
    """
    entry = info(name)
    archive = download(entry.name, progress=progress, timeout=timeout, force=force)
    _show_notice(entry)
    loader = _LOADERS.get(entry.loader)
    if loader is None:
        raise InvalidArgumentError(f"Dataset {entry.name!r} has an unknown loader {entry.loader!r}.")
    return loader(entry, archive, force)


# --------------------------------------------------------------------------- MedMNIST


class MedMNISTData:
    """A MedMNIST ``.npz`` file as numpy arrays, with labels and the paper's benchmarks.

    Attributes
    ----------
    name, path, info
        Registry name, the cached ``.npz`` file, the :class:`DatasetInfo`.
    splits
        ``("train", "val", "test")``.
    labels
        DataFrame with ``split``, ``index``, ``label`` (int; for multi-label sets a
        tuple of positive indices), ``label_name``, ``patient_id`` (MedMNIST ships no
        patient IDs: ``"<split>-<index>"``) and ``file`` (``None`` until
        :meth:`to_folder` writes PNGs).

    Examples
    --------
    >>> ds = radnb.datasets.load("breastmnist")   # doctest: +SKIP
    >>> x, y = ds.arrays("train"); x.shape         # doctest: +SKIP
    (546, 28, 28)
    """

    splits = ("train", "val", "test")

    def __init__(self, entry: DatasetInfo, path: Path):
        self.info = entry
        self.name = entry.name
        self.path = Path(path)
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                self._arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as exc:
            raise RadnbError(f"{self.path}: not a readable MedMNIST .npz file ({exc}). Delete it and load "
                             f"again to re-download.") from None
        missing = [f"{s}_{kind}" for s in self.splits for kind in ("images", "labels")
                   if f"{s}_{kind}" not in self._arrays]
        if missing:
            raise RadnbError(f"{self.path}: missing arrays {missing}; this is not a MedMNIST file.")
        self._labels: Optional[pd.DataFrame] = None

    @property
    def label_names(self) -> Dict[int, str]:
        return {int(k): v for k, v in self.info.label_names.items()}

    @property
    def multilabel(self) -> bool:
        return self._arrays["train_labels"].ndim == 2 and self._arrays["train_labels"].shape[1] > 1

    def arrays(self, split: str = "train") -> Tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of one split: uint8 ``(N, H, W)`` or ``(N, H, W, 3)``, and int labels.

        Labels are ``(N,)`` for single-label sets and ``(N, K)`` 0/1 for multi-label ones.
        """
        if split not in self.splits:
            raise InvalidArgumentError(f"split must be one of {self.splits}, not {split!r}.")
        labels = self._arrays[f"{split}_labels"]
        if not self.multilabel:
            labels = labels.reshape(-1)
        return self._arrays[f"{split}_images"], labels.astype(np.int64)

    @property
    def images(self) -> Dict[str, np.ndarray]:
        return {s: self._arrays[f"{s}_images"] for s in self.splits}

    @property
    def labels(self) -> pd.DataFrame:
        if self._labels is None:
            frames = []
            names = self.label_names
            for split in self.splits:
                _, y = self.arrays(split)
                if self.multilabel:
                    lab = [tuple(int(i) for i in np.flatnonzero(row)) for row in y]
                    lname = [";".join(names.get(i, str(i)) for i in t) or "no finding" for t in lab]
                else:
                    lab = [int(v) for v in y]
                    lname = [names.get(v, str(v)) for v in lab]
                frames.append(pd.DataFrame({
                    "split": split, "index": np.arange(len(y)), "label": lab, "label_name": lname,
                    "patient_id": [f"{split}-{i}" for i in range(len(y))], "file": None,
                }))
            self._labels = pd.concat(frames, ignore_index=True)
        return self._labels

    @property
    def split(self) -> pd.Series:
        return self.labels["split"]

    @property
    def benchmarks(self) -> pd.DataFrame:
        return benchmarks(self.name)

    def __len__(self) -> int:
        return sum(len(self._arrays[f"{s}_labels"]) for s in self.splits)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s}={len(self._arrays[f'{s}_labels'])}" for s in self.splits)
        shape = self._arrays["train_images"].shape[1:]
        return f"MedMNISTData({self.name!r}, images {shape}, {counts}, path={str(self.path)!r})"

    def to_folder(self, dest=None, *, splits=("train", "val", "test"), limit: Optional[int] = None) -> "ImageDataset":
        """Write the images as PNG files plus ``labels.csv`` and return an :class:`ImageDataset`.

        Parameters
        ----------
        dest
            Folder (default: ``<cache>/datasets/<name>/png``).
        splits
            Which splits to write.
        limit
            At most this many images per split (handy for quick classroom runs).
        """
        from PIL import Image

        dest = Path(dest) if dest is not None else self.info.cache_dir / "png"
        rows = []
        names = self.label_names
        for split in splits:
            x, y = self.arrays(split)
            n = len(x) if limit is None else min(limit, len(x))
            (dest / split).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f"{split}/{i:06d}.png"
                target = dest / rel
                if not target.exists():
                    Image.fromarray(x[i]).save(target)
                if self.multilabel:
                    label = ";".join(names.get(int(j), str(j)) for j in np.flatnonzero(y[i])) or "no finding"
                else:
                    label = names.get(int(y[i]), str(int(y[i])))
                rows.append({"file": rel, "label": label, "patient_id": f"{split}-{i}",
                             "split": "valid" if split == "val" else split})
        labels = pd.DataFrame(rows, columns=["file", "label", "patient_id", "split"])
        labels.to_csv(dest / "labels.csv", index=False)
        return ImageDataset(self.info, dest, labels)


def _load_medmnist(entry: DatasetInfo, archive: Path, force: bool) -> MedMNISTData:
    return MedMNISTData(entry, archive)


# --------------------------------------------------------------------------- image folders


class ImageDataset:
    """A folder of images (PNG or DICOM) with a labels table: radnb's standard form.

    Attributes
    ----------
    path
        Root folder; ``labels.file`` is relative to it.
    labels
        DataFrame with ``file``, ``label``, ``patient_id`` and ``split``
        (``train``/``valid``/``test``), also written to ``path/labels.csv``.
    info
        The :class:`DatasetInfo`.

    Examples
    --------
    >>> ds = radnb.datasets.load("siim_small")      # doctest: +SKIP
    >>> ds.labels.label.value_counts()               # doctest: +SKIP
    """

    def __init__(self, entry: DatasetInfo, path: Path, labels: pd.DataFrame):
        self.info = entry
        self.name = entry.name
        self.path = Path(path)
        self.labels = labels.reset_index(drop=True)

    @property
    def split(self) -> pd.Series:
        return self.labels["split"]

    @property
    def files(self):
        return [self.path / f for f in self.labels["file"]]

    def __fspath__(self) -> str:  # radnb.classification_dls(ds) reads path/labels.csv
        return str(self.path)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = self.labels["label"].value_counts().to_dict()
        return f"ImageDataset({self.name!r}, {len(self)} images, labels={counts}, path={str(self.path)!r})"


_SPLIT_WORDS = {"train": "train", "training": "train", "val": "valid", "valid": "valid", "validation": "valid",
                "test": "test", "testing": "test"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".bmp", ".tif", ".tiff"}


def _hash_split(key: str, valid_pct: float = 0.2) -> str:
    """Deterministic patient-level split: the same patient always lands in the same split."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "valid" if h < valid_pct else "train"


def _walk_images(root: Path):
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p.startswith(".") or p == "__MACOSX" for p in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES:
            yield path, rel


def _body_part_label(rel: Path) -> Optional[str]:
    # directory names first, then the file name: "abd..." -> abdomen, "chest"/"cxr"/"chst" -> chest
    for part in list(rel.parts[:-1]) + [rel.stem]:
        low = part.lower()
        is_abdomen = "abd" in low
        is_chest = any(word in low for word in ("chest", "cxr", "chst"))
        if is_abdomen != is_chest:  # a name saying both (the archive's own root folder) decides nothing
            return "abdomen" if is_abdomen else "chest"
    return None


def _load_image_folder(entry: DatasetInfo, archive: Path, force: bool) -> ImageDataset:
    root = extract(archive, entry.cache_dir / "extracted", max_bytes=entry.extra.get("max_bytes", 1 << 30),
                   force=force)
    rows, skipped = [], []
    for path, rel in _walk_images(root):
        label = _body_part_label(rel)
        if label is None:
            skipped.append(str(rel))
            continue
        split = next((_SPLIT_WORDS[p.lower()] for p in rel.parts[:-1] if p.lower() in _SPLIT_WORDS), None)
        rows.append({"file": rel.as_posix(), "label": label, "patient_id": rel.stem,
                     "split": split or _hash_split(rel.stem)})
    if not rows:
        raise RadnbError(f"{root}: no labelled images found in {archive.name}; the archive layout is not the "
                         f"expected one. Delete {entry.cache_dir} and load again.")
    if skipped:
        sys.stderr.write(f"radnb: {len(skipped)} image(s) without a recognisable label were skipped, "
                         f"e.g. {skipped[0]}\n")
    labels = pd.DataFrame(rows, columns=["file", "label", "patient_id", "split"])
    labels.to_csv(root / "labels.csv", index=False)
    return ImageDataset(entry, root, labels)


def _dicom_patient_id(path: Path) -> Optional[str]:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
        value = str(ds.get("PatientID", "") or "").strip()
        return value or None
    except Exception:  # unreadable header: reported by the DICOM loader later, keep the file listed
        return None


def _load_siim_dicom(entry: DatasetInfo, archive: Path, force: bool) -> ImageDataset:
    outer = extract(archive, entry.cache_dir / "extracted", max_bytes=1 << 30, force=force)
    def visible(p: Path) -> bool:
        return not any(q.startswith(".") for q in p.relative_to(outer).parts)

    # labels_source.csv (the archive's table, renamed on first load) wins over radnb's own labels.csv
    csvs = (sorted(filter(visible, outer.rglob("labels_source.csv")))
            or sorted(filter(visible, outer.rglob("labels.csv"))))
    root = csvs[0].parent if csvs else outer
    rows = []
    if csvs:
        source_csv = csvs[0]
        if source_csv.name == "labels.csv":  # keep the archive's own table; radnb's replaces it below
            source_csv = source_csv.rename(source_csv.with_name("labels_source.csv"))
        table = pd.read_csv(source_csv)
        file_col = next((c for c in table.columns if c.lower() in ("file", "filename", "path", "fname")),
                        table.columns[0])
        label_col = next((c for c in table.columns if c.lower() in ("label", "labels", "target")),
                         table.columns[-1])
        for f, lab in zip(table[file_col].astype(str), table[label_col].astype(str)):
            rows.append((Path(f), lab))
    else:
        for path, rel in _walk_images(root):
            if path.suffix.lower() == ".dcm":
                rows.append((rel, rel.parent.name))
    records = []
    missing = []
    for rel, lab in rows:
        path = root / rel
        if not path.is_file():
            missing.append(str(rel))
            continue
        pid = _dicom_patient_id(path) or rel.stem
        split = next((_SPLIT_WORDS[p.lower()] for p in rel.parts[:-1] if p.lower() in _SPLIT_WORDS), "train")
        if split == "train":
            split = _hash_split(pid)
        records.append({"file": rel.as_posix(), "label": lab, "patient_id": pid, "split": split})
    if missing:
        sys.stderr.write(f"radnb: {len(missing)} file(s) listed in labels.csv are missing, e.g. {missing[0]}\n")
    if not records:
        raise RadnbError(f"{root}: no DICOM files with labels found in {archive.name}.")
    labels = pd.DataFrame(records, columns=["file", "label", "patient_id", "split"])
    labels.to_csv(root / "labels.csv", index=False)
    return ImageDataset(entry, root, labels)


# --------------------------------------------------------------------------- 3D segmentation


class SegmentationDataset:
    """A Medical Segmentation Decathlon task: NIfTI volumes and masks.

    Attributes
    ----------
    path
        The task folder (with ``dataset.json``).
    labels
        DataFrame with ``file`` (image, relative to ``path``), ``mask`` (relative, or
        None for unlabelled test cases), ``patient_id`` and ``split``
        (``train``/``valid`` for labelled cases, ``test`` for unlabelled ones).
    label_names
        ``{0: "background", 1: "anterior", 2: "posterior"}`` for the hippocampus task.

    Examples
    --------
    >>> ds = radnb.datasets.load("msd_hippocampus")   # doctest: +SKIP
    >>> image, mask = ds.load_case(0)                  # doctest: +SKIP
    """

    def __init__(self, entry: DatasetInfo, path: Path, labels: pd.DataFrame, label_names: Dict[int, str]):
        self.info = entry
        self.name = entry.name
        self.path = Path(path)
        self.labels = labels.reset_index(drop=True)
        self.label_names = label_names

    @property
    def split(self) -> pd.Series:
        return self.labels["split"]

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = self.labels["split"].value_counts().to_dict()
        return f"SegmentationDataset({self.name!r}, {len(self)} cases {counts}, path={str(self.path)!r})"

    def load_case(self, index: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """``(image, mask)`` of one case as float32 / int64 arrays (mask None when unlabelled)."""
        try:
            import nibabel as nib
        except ImportError:
            raise MissingDependencyError("Reading NIfTI volumes", "nibabel") from None
        row = self.labels.iloc[index]
        image = np.asarray(nib.load(str(self.path / row["file"])).get_fdata(dtype=np.float32))
        mask = None
        if isinstance(row["mask"], str) and row["mask"]:
            mask = np.asarray(nib.load(str(self.path / row["mask"])).dataobj).astype(np.int64)
        return image, mask


def _load_decathlon(entry: DatasetInfo, archive: Path, force: bool) -> SegmentationDataset:
    outer = extract(archive, entry.cache_dir / "extracted", max_bytes=2 << 30, force=force)
    candidates = sorted(p for p in outer.rglob("dataset.json") if not p.name.startswith("."))
    if not candidates:
        raise RadnbError(f"{outer}: no dataset.json in {archive.name}; not a Decathlon task archive.")
    root = candidates[0].parent
    try:
        meta = json.loads(candidates[0].read_text())
    except ValueError as exc:
        raise RadnbError(f"{candidates[0]}: unreadable dataset.json ({exc}).") from None
    label_names = {int(k): str(v) for k, v in (meta.get("labels") or entry.label_names).items()}

    def rel(p: str) -> str:
        return p[2:] if p.startswith("./") else p

    rows = []
    for case in meta.get("training", []):
        image = rel(case["image"])
        pid = Path(image).name.split(".")[0]
        rows.append({"file": image, "mask": rel(case["label"]), "patient_id": pid, "split": _hash_split(pid)})
    for case in meta.get("test", []):
        image = rel(case if isinstance(case, str) else case["image"])
        rows.append({"file": image, "mask": None, "patient_id": Path(image).name.split(".")[0], "split": "test"})
    labels = pd.DataFrame(rows, columns=["file", "mask", "patient_id", "split"])
    present = labels["file"].map(lambda f: (root / f).is_file())
    if not present.all():
        sys.stderr.write(f"radnb: {int((~present).sum())} case(s) listed in dataset.json are missing.\n")
        labels = labels[present]
    # the files radnb.segmentation_dls(folder) reads: labelled cases and the class names
    labels[labels["mask"].notna()].to_csv(root / "cases.csv", index=False)
    (root / "labels.json").write_text(json.dumps({"classes": {str(k): v for k, v in label_names.items()}}))
    return SegmentationDataset(entry, root, labels, label_names)


def _renamed_list(stacklevel: int = 3):
    import warnings

    warnings.warn("radnb.datasets.list() is now radnb.datasets.available(); list() will be removed in the "
                  "next release.", FutureWarning, stacklevel=stacklevel)
    return available


def __getattr__(name: str):
    # the old name is a module attribute, not a global, so nothing here shadows the builtin ``list``
    if name == "list":
        return _renamed_list()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_LOADERS = {
    "medmnist": _load_medmnist,
    "image_folder": _load_image_folder,
    "siim_dicom": _load_siim_dicom,
    "decathlon": _load_decathlon,
}

__all__ = [
    "REGISTRY",
    "DatasetInfo",
    "ImageDataset",
    "MedMNISTData",
    "SegmentationDataset",
    "benchmarks",
    "download",
    "info",
    "is_cached",
    "available",
    "load",
    "register",
]
