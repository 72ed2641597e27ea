"""Where the curriculum runs: Binder and Colab links, and the notebooks' standard cells.

:data:`GITHUB_ORG` is the **one** place that names the GitHub organisation
hosting radnb (a placeholder, ``radnb-org``, until the repository is public):
badges, Colab links and the install cell are all built from it. Change it here,
then regenerate the README badges with :func:`badges_markdown`.

Examples
--------
>>> colab_url("00_welcome.ipynb")
'https://colab.research.google.com/github/radnb-org/radnb/blob/main/notebooks/00_welcome.ipynb'
>>> binder_url("00_welcome.ipynb")
'https://mybinder.org/v2/gh/radnb-org/radnb/main?urlpath=lab/tree/notebooks/00_welcome.ipynb'
"""
from __future__ import annotations

from typing import Iterable

#: GitHub organisation (or user) that hosts the radnb repository. Placeholder until publication.
GITHUB_ORG = "radnb-org"
#: Repository name and default branch.
GITHUB_REPO = "radnb"
BRANCH = "main"
#: Folder of the curriculum inside the repository.
NOTEBOOK_DIR = "notebooks"

#: Tags that mark radnb's standard cells (cell metadata ``tags``).
INSTALL_TAG = "radnb-install"
PARAMETERS_TAG = "parameters"  # papermill's convention
SCORE_TAG = "radnb-score"

BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repo_url() -> str:
    """The repository's GitHub URL."""
    return f"https://github.com/{GITHUB_ORG}/{GITHUB_REPO}"


def install_spec() -> str:
    """What ``pip`` installs on Colab: radnb from the repository's default branch."""
    return f"radnb @ git+{repo_url()}@{BRANCH}"


def binder_url(notebook: str) -> str:
    """A mybinder.org link that opens ``notebook`` (a file in ``notebooks/``) in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{GITHUB_ORG}/{GITHUB_REPO}/{BRANCH}?urlpath=lab/tree/{NOTEBOOK_DIR}/{notebook}"


def colab_url(notebook: str) -> str:
    """A Google Colab link that opens ``notebook`` from the repository's default branch."""
    return f"https://colab.research.google.com/github/{GITHUB_ORG}/{GITHUB_REPO}/blob/{BRANCH}/{NOTEBOOK_DIR}/{notebook}"


def badges_markdown(notebook: str) -> str:
    """Markdown for the "Open in Binder" and "Open in Colab" badges of one notebook.

    Examples
    --------
    >>> badges_markdown("00_welcome.ipynb").startswith("[![Binder]")
    True
    """
    return (
        f"[![Binder]({BINDER_BADGE})]({binder_url(notebook)}) "
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(notebook)})"
    )


def badges_table(notebooks: Iterable[str]) -> str:
    """A Markdown table with one row of badges per notebook (for the README)."""
    rows = ["| Notebook | Binder | Colab |", "|---|---|---|"]
    for nb in notebooks:
        rows.append(
            f"| `{nb}` | [![Binder]({BINDER_BADGE})]({binder_url(nb)}) | "
            f"[![Open In Colab]({COLAB_BADGE})]({colab_url(nb)}) |"
        )
    return "\n".join(rows)


def install_cell_source() -> str:
    """The first code cell of every notebook: installs radnb on Colab when it is missing,
    and says where the notebook runs (Colab, Binder, a JupyterHub or a local install).

    On Colab, radnb's core install adds only what Colab lacks (pydicom and its decoders)
    and keeps Colab's torch, numpy and widgets, so no runtime restart is needed (checked by
    ``platforms/resolve_check.py``). Binder and local installs already have radnb.

    Examples
    --------
    >>> src = install_cell_source()
    >>> "google.colab" in src and "detect_platform" in src
    True
    """
    return (
        "# Installs radnb on Google Colab (about a minute) and says where this notebook runs.\n"
        "import os, sys\n"
        "\n"
        'if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:\n'
        "    try:\n"
        "        import radnb\n"
        "    except ImportError:  # Colab's own torch, numpy and widgets are kept\n"
        f'        %pip install -q "{install_spec()}"\n'
        "\n"
        "from radnb.system import detect_platform\n"
        "\n"
        'print("Running on", detect_platform())'
    )


def parameters_cell_example() -> str:
    """A typical ``parameters`` cell (papermill can override these values; a GPU run uses bigger ones)."""
    return (
        "# Parameters: small and fast on a CPU, bigger when a GPU is available.\n"
        "GPU = radnb.device_info().kind == \"cuda\"\n"
        "FAST = not GPU\n"
        "EPOCHS = 1 if FAST else 5\n"
        "IMAGE_SIZE = 64 if FAST else 224"
    )
