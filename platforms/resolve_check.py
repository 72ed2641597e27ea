"""Would installing radnb on Colab move Colab's own packages?  Ask pip's resolver.

Reads radnb's core dependencies from ``pyproject.toml`` and lets pip resolve them for
Colab's interpreter (``--python-version 3.13``, manylinux wheels only) against a
constraints file that pins the versions Colab ships (``platforms/colab-constraints.txt``).
Nothing is installed: ``pip install --dry-run --report`` only downloads metadata.

The check fails when pip cannot satisfy radnb without another version of a pinned
package (it would upgrade or downgrade it in the running runtime), when a protected
package would be installed at a version other than the pin, or when the core install
would bring a front end Colab replaces (JupyterLab, Notebook 7, ...).

Run ``python platforms/resolve_check.py`` (``make colab-check``); it prints a table and
exits 1 on a violation.  The dependency list is resolved directly (not a built wheel) so
the check needs no build tools.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
COLAB_CONSTRAINTS = ROOT / "platforms" / "colab-constraints.txt"

#: Preinstalled compiled or kernel packages whose upgrade breaks a running Colab kernel.
PROTECTED = ("torch", "torchvision", "fastai", "numpy", "ipywidgets", "ipykernel")
#: Front ends Colab replaces with its own: the core install must not bring them.
FORBIDDEN_IN_CORE = ("jupyterlab", "notebook", "nbclassic", "jupyter-server", "playwright", "pytest")


def canonical(name: str) -> str:
    """PEP 503 normalised project name.

    Examples
    --------
    >>> canonical("Scikit_Learn")
    'scikit-learn'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> Dict[str, str]:
    """``name==version`` lines of a constraints file as {canonical name: version}."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def core_requirements(pyproject: Path = ROOT / "pyproject.toml", extras: Sequence[str] = ()) -> List[str]:
    """radnb's ``[project] dependencies`` (plus the named extras, self-references expanded)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional[extra]:
            m = re.match(r"radnb\[([^\]]+)\]", req.replace(" ", ""))
            if m:
                todo.extend(m.group(1).split(","))
            else:
                reqs.append(req)
    return reqs


def platform_flags(glibc: str = "2.35") -> List[str]:
    """``--platform`` options for every manylinux tag a Linux x86-64 with this glibc accepts.

    pip takes ``--platform`` literally, so the older tags (``manylinux_2_17`` = manylinux2014,
    which numpy 2.1 wheels carry) must be listed too. Colab runs Ubuntu 22.04 (glibc 2.35).

    Examples
    --------
    >>> flags = platform_flags("2.28")
    >>> "manylinux_2_17_x86_64" in flags and "manylinux2014_x86_64" in flags
    True
    """
    minor = int(glibc.split(".")[1])
    tags = [f"manylinux_2_{m}_x86_64" for m in range(minor, 4, -1)]
    tags += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    return [flag for tag in tags for flag in ("--platform", tag)]


@dataclass
class Resolution:
    """What pip would install, and what is wrong with it."""

    ok: bool
    installs: Dict[str, str] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)
    seconds: float = 0.0
    pip_output: str = ""
    baseline: Dict[str, str] = field(default_factory=dict)
    added: Dict[str, str] = field(default_factory=dict)


def _pip_resolve(requirements: Sequence[str], constraints: Path, python_version: str, glibc: str,
                 timeout: float):
    """Run pip's resolver; return ({name: version} or None, pip's output)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            # --target: older pips (Python 3.10's 23.0) accept --platform only with it; nothing is written
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--target", str(Path(tmp) / "target"),
            "--report", str(report), "--python-version", python_version, "--only-binary=:all:",
            *platform_flags(glibc), "--implementation", "cp", "-c", str(constraints), *requirements,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                           if "is ignored: it is neither" not in line)
        if proc.returncode != 0 or not report.exists():
            return None, output
        data = json.loads(report.read_text())
    return {canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in data["install"]}, output


_BASELINES: Dict[tuple, tuple] = {}


def resolve(
    requirements: Sequence[str],
    constraints: Path = COLAB_CONSTRAINTS,
    python_version: str = "3.13",
    glibc: str = "2.35",
    protected: Sequence[str] = PROTECTED,
    forbidden: Sequence[str] = FORBIDDEN_IN_CORE,
    timeout: float = 600,
) -> Resolution:
    """Resolve the platform's pinned stack, then the stack plus ``requirements``, and compare.

    The first resolution is the platform as it is (its pinned packages and what they
    depend on); the second is the platform after ``pip install`` of ``requirements``.
    ``Resolution.added`` is what the install brings on top of the platform.
    """
    pins = read_pins(constraints)
    stack = [f"{name}=={version}" for name, version in pins.items()]
    start = time.perf_counter()
    key = (tuple(stack), python_version, glibc)
    if key not in _BASELINES:
        _BASELINES[key] = _pip_resolve(stack, constraints, python_version, glibc, timeout)
    baseline, output = _BASELINES[key]
    if baseline is None:
        return Resolution(False, problems=[f"pip cannot resolve the platform's own pins (fix the constraints file):\n{output[-3000:]}"],
                          seconds=time.perf_counter() - start, pip_output=output)
    installs, output = _pip_resolve([*stack, *requirements], constraints, python_version, glibc, timeout)
    seconds = time.perf_counter() - start
    if installs is None:
        return Resolution(False, problems=[f"pip cannot install these requirements without moving a pinned package:\n{output[-3000:]}"],
                          seconds=seconds, pip_output=output)
    added = {name: version for name, version in installs.items() if name not in baseline}
    problems = []
    for name in protected:
        if name in installs and name in pins and installs[name] != pins[name]:
            problems.append(f"{name} would change from {pins[name]} to {installs[name]}")
    for name, version in installs.items():
        if name in baseline and baseline[name] != version:
            problems.append(f"{name} would change from {baseline[name]} (the platform's) to {version}")
    for name in forbidden:
        if name in added:
            problems.append(f"{name} {added[name]} would be installed, but the core install must not bring it")
    return Resolution(not problems, installs, problems, seconds, output, baseline, added)


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--constraints", type=Path, default=COLAB_CONSTRAINTS)
    parser.add_argument("--python-version", default="3.13")
    args = parser.parse_args(argv)
    pins = read_pins(args.constraints)
    result = resolve(core_requirements(), args.constraints, args.python_version)
    print(f"radnb core install resolved for Python {args.python_version} against {args.constraints.name} "
          f"in {result.seconds:.1f} s ({len(result.installs)} distributions)")
    print(f"{'package':<20} {'Colab pin':<12} {'resolved':<12} verdict")
    for name in sorted(set(PROTECTED) | set(pins)):
        got = result.installs.get(name, "-")
        verdict = "kept" if got == pins.get(name) else ("not needed" if got == "-" else "CHANGED")
        print(f"{name:<20} {pins.get(name, '-'):<12} {got:<12} {verdict}")
    print(f"radnb adds {len(result.added)} distributions to the platform's {len(result.baseline)}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(result.added.items())))
    for problem in result.problems:
        print("PROBLEM:", problem)
    print("OK: installing radnb keeps Colab's stack" if result.ok else "FAILED")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
