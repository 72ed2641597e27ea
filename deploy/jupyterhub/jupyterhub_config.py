"""JupyterHub configuration for a radnb class on one server (The Littlest JupyterHub or a plain JupyterHub).

Copy it to the hub's configuration (TLJH: ``/opt/tljh/config/jupyterhub_config.d/radnb.py``; a plain
hub: ``jupyterhub -f jupyterhub_config.py``) and set the environment variables below in the hub's
service. Zero to JupyterHub on Kubernetes uses ``values.yaml`` in this folder instead.

What it sets up
---------------
* every user opens JupyterLab (``/lab``) with a memory and CPU limit (enforced by spawners that
  can: TLJH's systemd spawner, DockerSpawner, KubeSpawner);
* the course exchange, a folder outside every home, where submissions are collected::

      $RADNB_EXCHANGE/submissions/<student>/00_welcome.ipynb   <- a student's ``~/submit/`` folder
      $RADNB_EXCHANGE/grades/gradebook.csv                     <- written by ``radnb course grade``

  Each student's home gets ``submit/`` (their own sub-folder of ``submissions/``, nobody else's);
  each instructor's home gets ``exchange/`` (the whole exchange). ``radnb course grade
  ~/exchange/submissions --source ~/course-source --out ~/exchange/grades`` reads exactly that layout.

Environment variables
---------------------
RADNB_EXCHANGE
    The exchange folder (default ``/srv/radnb-exchange``).
RADNB_INSTRUCTORS
    Comma-separated hub user names that are instructors (hub admins, see the whole exchange).
RADNB_SYSTEM_USER
    How a hub user name maps to the Unix account that owns their files, when the hub runs as root
    (default ``jupyter-{username}``, TLJH's convention; ``{username}`` for a hub with the users' own
    accounts; empty when every server runs under the hub's own account, as with
    ``SimpleLocalProcessSpawner`` in radnb's hub test).
RADNB_MEM_LIMIT, RADNB_CPU_LIMIT
    Per-user limits (default ``3G`` and ``1``; see docs/SCALING.md for the measured memory per user).
"""
import os
import shutil
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

EXCHANGE = Path(os.environ.get("RADNB_EXCHANGE", "/srv/radnb-exchange"))
INSTRUCTORS = {name.strip() for name in os.environ.get("RADNB_INSTRUCTORS", "").split(",") if name.strip()}
SYSTEM_USER = os.environ.get("RADNB_SYSTEM_USER", "jupyter-{username}").strip()

c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = os.environ.get("RADNB_MEM_LIMIT", "3G")
c.Spawner.cpu_limit = float(os.environ.get("RADNB_CPU_LIMIT", "1"))
c.Authenticator.admin_users = set(INSTRUCTORS)
# a class is a closed group: list the students (or use your institution's authenticator's groups)
c.Authenticator.allow_existing_users = True


def _owner(path: Path, username: str) -> None:
    """The hub runs as root (TLJH): hand the folder to the user's Unix account."""
    shutil.chown(path, user=SYSTEM_USER.format(username=username))


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        return
    link.symlink_to(target, target_is_directory=True)


def radnb_course_folders(spawner) -> None:
    """Before a server starts: give students ``~/submit`` and instructors ``~/exchange``."""
    name = spawner.user.name
    home = Path(getattr(spawner, "home_dir", "") or os.path.expanduser(f"~{(SYSTEM_USER or '{username}').format(username=name)}"))
    home.mkdir(parents=True, exist_ok=True)
    submissions = EXCHANGE / "submissions"
    submissions.mkdir(parents=True, exist_ok=True)
    if name in INSTRUCTORS:
        (EXCHANGE / "grades").mkdir(parents=True, exist_ok=True)
        _link(home / "exchange", EXCHANGE)
        return
    own = submissions / name
    own.mkdir(exist_ok=True)
    if SYSTEM_USER and os.geteuid() == 0:  # one Unix account per student: only they (and root: TLJH admins) read it
        _owner(own, name)
        own.chmod(0o700)
    _link(home / "submit", own)


c.Spawner.pre_spawn_hook = radnb_course_folders
