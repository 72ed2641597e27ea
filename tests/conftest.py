"""Shared pytest fixtures for radnb's tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch) -> Path:
    """A fresh, empty radnb data directory (RADNB_DATA) for one test."""
    path = tmp_path / "radnb-data"
    path.mkdir()
    monkeypatch.setenv("RADNB_DATA", str(path))
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for test artefacts such as browser screenshots (kept after the run)."""
    path = Path(os.environ.get("RADNB_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def fresh_grading_session(monkeypatch):
    """Grading state and environment reset around a test (no results file, seed or nbgrader mode)."""
    from radnb import grading

    for name in (grading.RESULTS_ENV, grading.SEED_ENV, "NBGRADER_EXECUTION", "RADNB_GRADING_CHECK_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    grading.reset()
    yield
    grading.reset()
