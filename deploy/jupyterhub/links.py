"""nbgitpuller links for the course notebooks: one click pulls the released notebooks into a
student's home on the hub (updating them without overwriting the student's edits) and opens one.

Usage (prints a Markdown table to paste into the course page)::

    python deploy/jupyterhub/links.py https://hub.example.org https://github.com/dept/radnb-class

Examples
--------
>>> nbgitpuller_link("https://hub.example.org", "https://github.com/dept/radnb-class", "00_welcome.ipynb")
'https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fdept%2Fradnb-class&branch=main&urlpath=lab%2Ftree%2Fradnb-class%2F00_welcome.ipynb'
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import urlencode


def nbgitpuller_link(hub_url: str, repo: str, notebook: str, branch: str = "main",
                     target: Optional[str] = None) -> str:
    """The link that pulls ``repo`` (``branch``) into ``~/<target>`` and opens ``notebook`` in JupyterLab.

    ``target`` defaults to the repository's name, which is where nbgitpuller puts it.
    """
    target = target or repo.rstrip("/").split("/")[-1].removesuffix(".git")
    query = urlencode({"repo": repo, "branch": branch, "urlpath": f"lab/tree/{target}/{notebook}"})
    if target != repo.rstrip("/").split("/")[-1].removesuffix(".git"):
        query += "&" + urlencode({"targetpath": target})
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hub_url", help="the hub's address, e.g. https://hub.example.org")
    parser.add_argument("repo", help="git repository holding the released (student) notebooks")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--notebooks", default=str(Path(__file__).resolve().parents[2] / "notebooks"),
                        help="folder whose notebook names to list (default: this repository's notebooks/)")
    args = parser.parse_args(argv)
    names = sorted(p.name for p in Path(args.notebooks).glob("*.ipynb"))
    if not names:
        print(f"no notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    print("| Notebook | Link |\n|---|---|")
    for name in names:
        print(f"| {name} | [open on the hub]({nbgitpuller_link(args.hub_url, args.repo, name, args.branch)}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
