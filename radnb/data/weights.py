"""Pretrained ImageNet weights for torchvision architectures, fetched safely.

:func:`weights_path` returns a verified local state-dict file. It looks, in order:

1. in ``RADNB_WEIGHTS_DIR`` (a folder where a course or a user placed the files by
   hand, under torchvision's file names such as ``resnet18-f37072fd.pth``);
2. in torch hub's cache (``$TORCH_HOME/hub/checkpoints``), where torchvision or an
   earlier session may already have put the file;
3. in radnb's cache (``data_dir()/weights``), downloading it there once with
   :func:`radnb.data.fetch.fetch` (checksum, lock, resume, ``RADNB_MIRROR``).

Every file is checked against its sha256 before it is returned. Offline, an
:class:`~radnb.data.fetch.OfflineError` says exactly where to put a manually
downloaded file, or how to train without pretrained weights.

Examples
--------
>>> from radnb.data.weights import WEIGHTS
>>> WEIGHTS[("resnet18", "imagenet")].filename
'resnet18-f37072fd.pth'
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

from ..config import data_dir
from ..errors import InvalidArgumentError
from .fetch import ChecksumError, OfflineError, fetch, verify_file

WEIGHTS_ENV = "RADNB_WEIGHTS_DIR"
_TORCHVISION = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class WeightsInfo:
    """One pretrained state dict: where it lives and how it is checked.

    ``sha256`` is the full digest where a published copy of it was found, otherwise the
    8-hex prefix torchvision embeds in the file name (torch hub checks the same prefix).
    """

    arch: str
    source: str
    url: str
    sha256: str
    torchvision_enum: str
    size_bytes: Optional[int] = None
    licence: str = ("BSD-3-Clause (torchvision code); trained on ImageNet-1k, whose terms restrict use to "
                    "non-commercial research and education")

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_is_full(self) -> bool:
        return len(self.sha256) == 64


WEIGHTS: Dict[Tuple[str, str], WeightsInfo] = {
    (info.arch, info.source): info
    for info in (
        WeightsInfo("resnet18", "imagenet", _TORCHVISION + "resnet18-f37072fd.pth",
                    "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
                    "ResNet18_Weights.IMAGENET1K_V1"),
        WeightsInfo("resnet34", "imagenet", _TORCHVISION + "resnet34-b627a593.pth",
                    "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
                    "ResNet34_Weights.IMAGENET1K_V1"),
        WeightsInfo("resnet50", "imagenet", _TORCHVISION + "resnet50-0676ba61.pth",
                    "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a",
                    "ResNet50_Weights.IMAGENET1K_V1"),
        WeightsInfo("resnet50", "imagenet_v2", _TORCHVISION + "resnet50-11ad3fa6.pth",
                    "11ad3fa6", "ResNet50_Weights.IMAGENET1K_V2"),
        WeightsInfo("densenet121", "imagenet", _TORCHVISION + "densenet121-a639ec97.pth",
                    "a639ec97d7c33b07ae66f0b5fb7d0192f95a3b11b7576c66c0126c2a727c4395",
                    "DenseNet121_Weights.IMAGENET1K_V1", size_bytes=32342954),
        WeightsInfo("efficientnet_b0", "imagenet", _TORCHVISION + "efficientnet_b0_rwightman-7f5810bc.pth",
                    "7f5810bc96def8f7552d5b7e68d53c4786f81167d28291b21c0d90e1fca14934",
                    "EfficientNet_B0_Weights.IMAGENET1K_V1"),
    )
}


def available() -> Iterable[Tuple[str, str]]:
    """The (arch, source) pairs :func:`weights_path` knows.

    Examples
    --------
    >>> ("resnet34", "imagenet") in available()
    True
    """
    return tuple(WEIGHTS)


def weights_dir() -> Path:
    """radnb's own cache folder for weights (``data_dir()/weights``).

    Examples
    --------
    >>> weights_dir().name
    'weights'
    """
    return data_dir() / "weights"


def _torch_hub_checkpoints() -> Path:
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        return Path(torch_home).expanduser() / "hub" / "checkpoints"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "torch" / "hub" / "checkpoints"


def _lookup(arch: str, source: str) -> WeightsInfo:
    key = (str(arch).lower(), str(source).lower())
    if key not in WEIGHTS:
        known = ", ".join(f"{a}/{s}" for a, s in WEIGHTS)
        raise InvalidArgumentError(
            f"No pretrained weights known for arch={arch!r}, source={source!r}. Known: {known}. "
            f"Use pretrained=False to train from scratch.")
    return WEIGHTS[key]


def _offline_help(info: WeightsInfo, dest: Path) -> str:
    manual = os.environ.get(WEIGHTS_ENV) or "/path/to/weights"
    return (
        f"Pretrained {info.arch} weights ({info.torchvision_enum}) are not on this computer and could not be "
        f"downloaded.\nTo proceed, do one of these:\n"
        f"  1. On a computer with internet, download\n       {info.url}\n"
        f"     and copy it, keeping the name '{info.filename}', to\n       {dest}\n"
        f"     or to a folder of your choice and set  os.environ['{WEIGHTS_ENV}'] = '{manual}'.\n"
        f"  2. Point RADNB_MIRROR at a course server that hosts '{info.filename}'.\n"
        f"  3. Train without ImageNet weights: pass pretrained=False, or pretrain offline on radnb's "
        f"synthetic data with radnb.pretrain(...)."
    )


def weights_path(arch: str, source: str = "imagenet", *, timeout: float = 10, progress: bool = True) -> Path:
    """Return a verified local state-dict file for a torchvision architecture.

    Parameters
    ----------
    arch
        ``"resnet18"``, ``"resnet34"``, ``"resnet50"``, ``"densenet121"`` or ``"efficientnet_b0"``.
    source
        ``"imagenet"`` (torchvision's IMAGENET1K_V1 weights, the ones fastai uses);
        ``"imagenet_v2"`` for resnet50's newer recipe.
    timeout
        Seconds to wait for the server before reporting that you are offline.
    progress
        Show a download progress bar.

    Returns
    -------
    Path
        A file for ``torch.load(path, weights_only=True)``. (DenseNet files use
        torchvision's old key names; torchvision's ``densenet121(weights=...)`` loader
        renames them, see ``torchvision.models.densenet._load_state_dict``.)

    Raises
    ------
    OfflineError
        Not cached and no network; the message says where to put a manual download.
    ChecksumError
        A local or downloaded file does not match the pinned sha256 (it is not used).
    InvalidArgumentError
        Unknown architecture/source.

    Examples
    --------
    >>> import torch                                       # doctest: +SKIP
    >>> from radnb.data.weights import weights_path
    >>> state = torch.load(weights_path("resnet18"), weights_only=True)  # doctest: +SKIP
    """
    info = _lookup(arch, source)
    manual_dir = os.environ.get(WEIGHTS_ENV)
    candidates = []
    if manual_dir:
        candidates.append(Path(manual_dir).expanduser() / info.filename)
    candidates.append(_torch_hub_checkpoints() / info.filename)
    for candidate in candidates:
        if candidate.is_file():
            try:
                verify_file(candidate, sha256=info.sha256, expected_size=info.size_bytes)
            except ChecksumError as exc:
                # never delete a user's own file: report it and do not use it
                raise ChecksumError(
                    f"{exc} This file was placed by hand or by another tool and is NOT used. Delete or replace "
                    f"it with a fresh download of {info.url}.", url=info.url, dest=candidate) from None
            return candidate
    dest = weights_dir() / info.filename
    try:
        return fetch(info.url, info.sha256, info.filename, subdir="weights", timeout=timeout,
                     expected_size=info.size_bytes, progress=progress)
    except OfflineError as exc:
        raise OfflineError(_offline_help(info, dest) + f"\n(Details: {exc.args[0].splitlines()[0]})",
                           url=info.url, dest=dest) from None


__all__ = ["WEIGHTS", "WEIGHTS_ENV", "WeightsInfo", "available", "weights_dir", "weights_path"]
