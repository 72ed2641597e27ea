"""Platform detection (Colab, Binder, JupyterHub, local), the notebooks' install cell, and
Colab's custom widget manager as anywidget enables it for radnb's viewers. Fast, in-process."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from radnb.system import detect_platform, doctor


@pytest.mark.parametrize(
    "environ, modules, expected",
    [
        ({}, {}, "local"),
        ({"COLAB_RELEASE_TAG": "release-colab_20260819-060000_RC00"}, {}, "colab"),
        ({}, {"google.colab": object()}, "colab"),
        # mybinder.org runs on a JupyterHub, so both sets of variables are present: Binder wins
        ({"BINDER_LAUNCH_HOST": "https://mybinder.org/", "JUPYTERHUB_USER": "jovyan-abc"}, {}, "binder"),
        ({"JUPYTERHUB_API_URL": "http://hub:8081/hub/api", "JUPYTERHUB_USER": "resident1"}, {}, "jupyterhub"),
    ],
)
def test_detect_platform(environ, modules, expected):
    info = detect_platform(environ, modules)
    assert info.name == expected
    assert info.evidence and info.advice and info.label in str(info)


def test_hub_names_the_user_and_binder_warns_about_memory():
    assert "resident1" in detect_platform({"JUPYTERHUB_USER": "resident1"}, {}).label
    assert "2 GB" in detect_platform({"BINDER_REPO_URL": "https://github.com/radnb-org/radnb"}, {}).advice


def test_doctor_says_where_it_runs(monkeypatch, tmp_data_dir):
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:1/hub/api")
    report = doctor()
    assert report["runs on"].startswith("a JupyterHub") and "JUPYTERHUB_API_URL is set" in report["runs on"]
    assert "notebook" in report and "ipykernel" in report


def test_install_cell_reports_the_platform_and_installs_nothing_off_colab(monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from radnb.grading import launch

    shell = InteractiveShell.instance()
    try:
        monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
        monkeypatch.setattr(shell, "run_line_magic", lambda *a, **k: pytest.fail(f"pip was called: {a}"))
        result = shell.run_cell(launch.install_cell_source())
        assert result.success, result.error_in_exec
        assert "Running on Binder (mybinder.org) (BINDER_LAUNCH_HOST is set)" in capsys.readouterr().out
        # On Colab with radnb already importable (a rerun of the cell), nothing is installed either
        monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260819")
        assert shell.run_cell(launch.install_cell_source()).success
        assert "Running on Google Colab" in capsys.readouterr().out
    finally:
        InteractiveShell.clear_instance()


def test_viewer_switches_on_colabs_widget_manager_through_anywidget(monkeypatch):
    """On Colab anywidget calls google.colab.output.enable_custom_widget_manager() when a widget is
    made and names the manager in the display metadata; radnb's viewers must keep that path."""
    import radnb

    calls = []
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: calls.append("enabled")
    output._widgets = types.SimpleNamespace(_installed_url="https://ssl.gstatic.com/colaboratory-static/widgets/colab-cdn-widget-manager/1/manager.min.js")
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    colab.output = output
    for name, mod in {"google": google, "google.colab": colab, "google.colab.output": output}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    from anywidget import _util

    if hasattr(_util.enable_custom_widget_manager_once, "cache_clear"):
        _util.enable_custom_widget_manager_once.cache_clear()
    viewer = radnb.show(np.linspace(-1000, 1000, 2 * 16 * 16, dtype=np.float32).reshape(2, 16, 16))
    assert calls, "anywidget did not enable Colab's custom widget manager for radnb's viewer"
    bundle = viewer._repr_mimebundle_()
    metadata = bundle[1] if isinstance(bundle, tuple) else {}
    assert "colab" in str(metadata), metadata
    assert detect_platform().name == "colab"


def test_itkwidgets_backend_says_exactly_why_it_cannot_display(monkeypatch):
    import radnb
    from radnb.viewers import render3d

    versions = {"itkwidgets": "0.32.6", "ipywidgets": "8.1.9"}
    monkeypatch.setattr(render3d, "_version", versions.get)
    monkeypatch.setattr(render3d, "_available", lambda name: name == "itkwidgets")
    with pytest.raises(render3d.View3DBackendError, match=r"requires ipywidgets < 8.*ipyniivue") as err:
        radnb.view3d(np.zeros((4, 8, 8)), backend="itkwidgets")
    assert isinstance(err.value, radnb.RadnbError)
    versions["itkwidgets"] = "1.0a55"
    with pytest.raises(render3d.View3DBackendError, match="from the web"):
        radnb.view3d(np.zeros((4, 8, 8)))  # picked automatically when it is the only backend
