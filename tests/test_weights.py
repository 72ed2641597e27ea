"""radnb.data.weights.weights_path: registry form, local server download, manual folders, offline help."""
from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
import torch

from radnb.data import weights as W
from radnb.data.fetch import ChecksumError, OfflineError
from radnb.errors import InvalidArgumentError
from test_fetch import closed_port_url, server, sha  # noqa: F401 - shared local HTTP server fixture


def tiny_state_dict_bytes() -> bytes:
    state = {"conv1.weight": torch.arange(12, dtype=torch.float32).reshape(2, 1, 2, 3),
             "fc.bias": torch.tensor([0.5, -0.5])}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


BLOB = tiny_state_dict_bytes()


def point_resnet18_at(monkeypatch, url: str, digest: str) -> W.WeightsInfo:
    """Swap the real resnet18 entry for the fixture: same file-name scheme (name-<sha256 prefix>.pth)."""
    patched = replace(W.WEIGHTS[("resnet18", "imagenet")], url=url, sha256=digest, size_bytes=None)
    monkeypatch.setitem(W.WEIGHTS, ("resnet18", "imagenet"), patched)
    return patched


@pytest.fixture
def no_torch_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("RADNB_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("RADNB_MIRROR", raising=False)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


# --------------------------------------------------------------------------- registry form (data, not fetched)


@pytest.mark.parametrize("key", sorted(W.WEIGHTS))
def test_registry_matches_installed_torchvision(key):
    import torchvision

    info = W.WEIGHTS[key]
    assert info.url.startswith("https://download.pytorch.org/models/")
    # torchvision's file names embed the first hex digits of the sha256 (torch.hub.HASH_REGEX)
    prefix = re.search(r"-([a-f0-9]+)\.", info.filename).group(1)
    assert info.sha256.startswith(prefix) and len(prefix) >= 8
    assert len(info.sha256) in (8, 64) and re.fullmatch(r"[0-9a-f]+", info.sha256)
    enum = torchvision.models.get_weight(info.torchvision_enum)
    assert enum.url == info.url  # the same file torchvision itself would download


def test_required_architectures_are_known():
    for arch in ("resnet18", "resnet34", "resnet50", "densenet121", "efficientnet_b0"):
        assert (arch, "imagenet") in W.available()
        assert W.WEIGHTS[(arch, "imagenet")].sha256_is_full


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="pretrained=False"):
        W.weights_path("vgg11")


# --------------------------------------------------------------------------- resolution order


def test_download_verify_cache_and_load(server, tmp_data_dir, no_torch_hub, monkeypatch):
    digest = sha(BLOB)
    url = server.add(f"resnet18-{digest[:8]}.pth", BLOB)
    point_resnet18_at(monkeypatch, url, digest)
    path = W.weights_path("resnet18")
    assert path == tmp_data_dir / "weights" / f"resnet18-{digest[:8]}.pth"
    state = torch.load(path, weights_only=True)
    assert torch.equal(state["fc.bias"], torch.tensor([0.5, -0.5]))
    server.stop()
    assert W.weights_path("resnet18", timeout=0.5) == path  # cached: no network needed
    assert len(server.gets(path.name)) == 1


def test_sha256_prefix_only_entries_are_verified_by_prefix(server, tmp_data_dir, no_torch_hub, monkeypatch):
    digest = sha(BLOB)
    url = server.add(f"resnet18-{digest[:8]}.pth", BLOB)
    point_resnet18_at(monkeypatch, url, digest[:8])
    assert W.weights_path("resnet18", progress=False).read_bytes() == BLOB
    bad = replace(W.WEIGHTS[("resnet18", "imagenet")], sha256="deadbeef",
                  url=server.add("resnet18-deadbeef.pth", BLOB))
    monkeypatch.setitem(W.WEIGHTS, ("resnet18", "imagenet"), bad)
    with pytest.raises(ChecksumError):
        W.weights_path("resnet18", progress=False)
    assert not (tmp_data_dir / "weights" / "resnet18-deadbeef.pth").exists()


def test_manual_weights_dir_is_used_without_network(tmp_path, tmp_data_dir, no_torch_hub, monkeypatch):
    digest = sha(BLOB)
    info = point_resnet18_at(monkeypatch, closed_port_url(f"resnet18-{digest[:8]}.pth"), digest)
    manual = tmp_path / "course-weights"
    manual.mkdir()
    (manual / info.filename).write_bytes(BLOB)
    monkeypatch.setenv("RADNB_WEIGHTS_DIR", str(manual))
    assert W.weights_path("resnet18", timeout=0.5) == manual / info.filename


def test_wrong_manual_file_is_reported_not_used_and_not_deleted(tmp_path, tmp_data_dir, no_torch_hub,
                                                               monkeypatch):
    digest = sha(BLOB)
    info = point_resnet18_at(monkeypatch, closed_port_url("x.pth"), digest)
    manual = tmp_path / "course-weights"
    manual.mkdir()
    (manual / info.filename).write_bytes(b"corrupted copy")
    monkeypatch.setenv("RADNB_WEIGHTS_DIR", str(manual))
    with pytest.raises(ChecksumError, match="NOT used"):
        W.weights_path("resnet18", timeout=0.5)
    assert (manual / info.filename).read_bytes() == b"corrupted copy"


def test_torch_hub_cache_is_reused(tmp_data_dir, no_torch_hub, monkeypatch):
    digest = sha(BLOB)
    info = point_resnet18_at(monkeypatch, closed_port_url("y.pth"), digest)
    no_torch_hub.mkdir(parents=True)
    (no_torch_hub / info.filename).write_bytes(BLOB)
    assert W.weights_path("resnet18", timeout=0.5) == no_torch_hub / info.filename


def test_offline_error_says_exactly_how_to_proceed(tmp_data_dir, no_torch_hub, monkeypatch):
    url = closed_port_url("resnet34-b627a593.pth")
    monkeypatch.setitem(W.WEIGHTS, ("resnet34", "imagenet"), replace(W.WEIGHTS[("resnet34", "imagenet")], url=url))
    with pytest.raises(OfflineError) as err:
        W.weights_path("resnet34", timeout=1)
    message = str(err.value)
    assert url in message
    assert str(tmp_data_dir / "weights" / "resnet34-b627a593.pth") in message
    assert "RADNB_WEIGHTS_DIR" in message
    assert "pretrained=False" in message and "radnb.pretrain(" in message
    assert err.value.dest == tmp_data_dir / "weights" / "resnet34-b627a593.pth"
