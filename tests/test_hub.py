"""A class on JupyterHub, for real: the recipe in deploy/jupyterhub/ on this machine.

JupyterHub with its configurable-http-proxy (npm, installed into ``.hub-tools/`` by ``make hub-tools``
or by this test) and a local process spawner, all on 127.0.0.1 with free ports. The hub loads
``deploy/jupyterhub/jupyterhub_config.py`` (course folders, instructors) and this test adds only
what a laptop needs instead of a server (dummy passwords, one Unix account, temporary paths).

Three students each follow the nbgitpuller link of notebook 00 (the released student version in a
git repository), fill in the exercises (one right, one wrong, one left undone), run the checks in
their kernel and save into ``~/submit``; the instructor runs ``radnb course grade`` on the collected
submissions in their own server, and the gradebook rows are asserted. Start-up time and memory per
user go to ``test-artifacts/hub_figures.json`` (quoted in docs/SCALING.md).
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("jupyterhub")
pytest.importorskip("nbgitpuller")
requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")
psutil = pytest.importorskip("psutil")
import nbformat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "deploy" / "jupyterhub"
sys.path.insert(0, str(RECIPE))
from links import nbgitpuller_link  # noqa: E402

STUDENTS = {  # what each student writes into the two exercises of notebook 00
    "student1": ("return n_pixels * pixel_spacing_mm", 'return "cpu"'),
    "student2": ("return n_pixels + pixel_spacing_mm", 'return "cpu"'),
    "student3": (None, 'return "cloud"'),
}
INSTRUCTOR = "instructor"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy_binary() -> Path:
    """configurable-http-proxy from npm, into the ignored .hub-tools/ (what `make hub-tools` does)."""
    binary = ROOT / ".hub-tools" / "node_modules" / ".bin" / "configurable-http-proxy"
    if not binary.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: JupyterHub's configurable-http-proxy comes from npm (make hub-tools)")
        subprocess.run(["npm", "install", "--prefix", str(ROOT / ".hub-tools"), "--no-audit", "--no-fund",
                        "configurable-http-proxy@^4"], check=True, capture_output=True, timeout=300)
    return binary


def _wait(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Hub:
    """The running hub, driven through its REST API and its proxy, as a browser would."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.user_tokens = {}

    def api(self, method: str, path: str, **kw):
        r = requests.request(method, f"{self.url}/hub/api{path}", timeout=60,
                             headers={"Authorization": f"token {self.token}"}, **kw)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r

    def start_server(self, name: str) -> float:
        started = time.monotonic()
        self.api("POST", f"/users/{name}/server")
        def ready():
            model = self.api("GET", f"/users/{name}").json()
            server = model["servers"].get("")
            assert server is not None or model.get("pending"), f"{name}'s server failed to start (see hub.log)"
            return server and server.get("ready")

        _wait(ready, 150, f"{name}'s server")
        self.user_tokens[name] = self.api("POST", f"/users/{name}/tokens", json={"note": "test"}).json()["token"]
        # the proxy routes to the new server: its API answers through the hub's public URL
        _wait(lambda: self.user(name, "GET", "/api/status", check=False).status_code == 200, 60, f"{name}'s route")
        return time.monotonic() - started

    def user(self, name: str, method: str, path: str, check: bool = True, **kw):
        r = requests.request(method, f"{self.url}/user/{name}{path}", timeout=120,
                             headers={"Authorization": f"token {self.user_tokens[name]}"}, **kw)
        if check:
            assert r.status_code < 400, f"{name} {method} {path}: {r.status_code} {r.text[:500]}"
        return r

    def run_code(self, name: str, kernel_id: str, code: str, timeout: float = 120) -> dict:
        """Execute ``code`` in a kernel over the proxied websocket; return its outputs and error."""
        ws_url = self.url.replace("http://", "ws://") + f"/user/{name}/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {self.user_tokens[name]}"],
                                         timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name, "session": uuid.uuid4().hex,
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            outputs, error, deadline = [], None, time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    outputs.append(nbformat.v4.new_output("stream", name=content["name"], text=content["text"]))
                elif kind in ("execute_result", "display_data"):
                    out = nbformat.v4.new_output(kind, data=content["data"], metadata=content.get("metadata", {}))
                    if kind == "execute_result":
                        out.execution_count = content.get("execution_count")
                    outputs.append(out)
                elif kind == "error":
                    error = content
                    outputs.append(nbformat.v4.new_output("error", ename=content["ename"], evalue=content["evalue"],
                                                          traceback=content["traceback"]))
                elif kind == "status" and content["execution_state"] == "idle":
                    return {"outputs": outputs, "error": error}
            raise AssertionError(f"{name}: the kernel did not finish within {timeout} s")
        finally:
            ws.close()


def _text(outputs) -> str:
    parts = []
    for out in outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


def _fill(source: str, answer) -> str:
    if answer is None:
        return source
    return source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", answer)


def _server_memory_mb(hub_process: psutil.Process, name: str) -> float:
    """Resident memory of a user's single-user server and its kernels (PSS would be lower; RSS is the cautious figure)."""
    total = 0
    for proc in hub_process.children(recursive=True):
        try:
            if proc.environ().get("JUPYTERHUB_USER") != name:
                continue
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2 ** 20


def _course_repository(tmp: Path) -> Path:
    """The instructor's release of notebook 00, committed to a git repository (what nbgitpuller pulls)."""
    repo = tmp / "radnb-class"
    subprocess.run([sys.executable, "-m", "radnb.cli", "course", "release", str(ROOT / "instructor" / "notebooks" / "00_welcome.ipynb"),
                    str(repo)], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    git = ["git", "-C", str(repo), "-c", "user.name=Instructor", "-c", "user.email=instructor@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "release notebook 00"], check=True)
    return repo


def test_recipe_profiles_image_and_links():
    """values.yaml's CPU and GPU profiles, the image's pins and the per-notebook links, as documented."""
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((RECIPE / "values.yaml").read_text())
    profiles = {p["slug"]: p["kubespawner_override"] for p in values["singleuser"]["profileList"]}
    assert set(profiles) == {"cpu", "gpu"}
    assert profiles["gpu"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}
    assert "extra_resource_limits" not in profiles["cpu"]
    mounts = values["singleuser"]["storage"]["extraVolumeMounts"]
    assert any(m["subPath"] == "submissions/{username}" and m["mountPath"].endswith("/submit") for m in mounts)
    dockerfile = (RECIPE / "singleuser" / "Dockerfile").read_text()
    assert "binder/requirements.txt" in dockerfile and "singleuser/requirements.txt" in dockerfile
    extra = (RECIPE / "singleuser" / "requirements.txt").read_text()
    assert "nbgitpuller" in extra and "jupyterhub" in extra
    import links

    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        assert links.main(["https://hub.example.org", "https://github.com/dept/radnb-class"]) == 0
    table = out.getvalue()
    assert all(f"lab%2Ftree%2Fradnb-class%2F{name}" in table for name in notebooks), table


@pytest.mark.slow
def test_a_class_on_jupyterhub(tmp_path, artifacts_dir):
    proxy = _proxy_binary()
    if shutil.which("git") is None:
        pytest.skip("git is needed for nbgitpuller")
    repo = _course_repository(tmp_path)
    exchange, homes = tmp_path / "exchange", tmp_path / "home"
    port, hub_port, proxy_api = _free_port(), _free_port(), _free_port()
    token = uuid.uuid4().hex
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(f"""
load_subconfig({str(RECIPE / 'jupyterhub_config.py')!r})
# --- a laptop instead of a server: one Unix account, dummy passwords, temporary paths, free ports
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "class-test"
c.Authenticator.allowed_users = {set(STUDENTS) | {INSTRUCTOR}!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(homes / '{username}')!r}
c.Spawner.cmd = [{str(Path(sys.executable).parent / 'jupyterhub-singleuser')!r}]
c.Spawner.args = ["--allow-root"] if {os.geteuid() == 0!r} else []  # CI containers run as root
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]
c.JupyterHub.db_url = "sqlite:///{tmp_path / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(tmp_path / 'cookie_secret')!r}
c.JupyterHub.pid_file = {str(tmp_path / 'jupyterhub.pid')!r}
c.JupyterHub.load_roles = [{{"name": "test-admin", "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
                             "services": ["test"]}}]
c.JupyterHub.services = [{{"name": "test", "api_token": {token!r}}}]
""")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RADNB_EXCHANGE": str(exchange), "RADNB_INSTRUCTORS": INSTRUCTOR,
           "RADNB_SYSTEM_USER": "", "RADNB_DATA": str(tmp_path / "radnb-data")}
    log = (tmp_path / "hub.log").open("w")
    started = time.monotonic()
    hub_proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)], cwd=tmp_path,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    hub = Hub(f"http://127.0.0.1:{port}", token)
    figures = {"users": {}}
    try:
        def healthy():
            assert hub_proc.poll() is None, (tmp_path / "hub.log").read_text()[-3000:]
            try:
                return requests.get(f"{hub.url}/hub/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        _wait(healthy, 90, "the hub")
        figures["hub_start_s"] = round(time.monotonic() - started, 2)
        hub_ps = psutil.Process(hub_proc.pid)
        link = nbgitpuller_link(hub.url, f"file://{repo}", "00_welcome.ipynb", branch="main", target="radnb-class")
        assert link.startswith(f"{hub.url}/hub/user-redirect/git-pull?repo=")

        def student_session(name: str) -> dict:
            size_answer, quiz_answer = STUDENTS[name]
            hub.api("GET", f"/users/{name}")  # allowed_users made the account
            seconds = hub.start_server(name)
            began = time.monotonic()
            # the nbgitpuller link: its page, then the pull it starts (a server-sent event stream)
            query = link.split("/git-pull?", 1)[1]
            assert "git-pull" in hub.user(name, "GET", f"/git-pull?{query}").text
            events = hub.user(name, "GET", f"/git-pull/api?{query}").text
            assert '"phase": "finished"' in events, events[-2000:]
            nb = nbformat.from_dict(hub.user(name, "GET", "/api/contents/radnb-class/00_welcome.ipynb").json()["content"])
            kernel = hub.user(name, "POST", "/api/kernels", json={"name": "python3"}).json()["id"]
            checks = {}
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                if cell.id == "cc9420ce":
                    cell.source = _fill(cell.source, size_answer)
                elif cell.id == "164f9d6f":
                    cell.source = _fill(cell.source, quiz_answer)
                ran = hub.run_code(name, kernel, cell.source)
                cell.outputs = ran["outputs"]
                if cell.id == "a2b69f52":  # the exercise's check: its result says pass / fail / not done
                    checks["size_mm"] = _text(ran["outputs"])
                if cell.id == "cb1fc1b6":  # the quiz widget shows the question
                    checks["quiz"] = _text(ran["outputs"])
            memory = _server_memory_mb(hub_ps, name)
            # save into ~/submit: the instructor's exchange collects it
            hub.user(name, "PUT", "/api/contents/submit/00_welcome.ipynb",
                     json={"type": "notebook", "format": "json", "content": nb})
            hub.user(name, "DELETE", f"/api/kernels/{kernel}")
            return {"start_s": round(seconds, 2), "work_s": round(time.monotonic() - began, 2),
                    "memory_mb": round(memory, 1), "checks": checks}

        # the three students work at the same time, as in a class
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(STUDENTS)) as pool:
            figures["users"] = dict(zip(STUDENTS, pool.map(student_session, STUDENTS)))
        figures["students_s"] = round(time.monotonic() - started - figures["hub_start_s"], 2)
        checks = {name: u["checks"] for name, u in figures["users"].items()}
        assert "status='pass'" in checks["student1"]["size_mm"], checks
        assert "status='fail'" in checks["student2"]["size_mm"], checks
        assert "status='not_done'" in checks["student3"]["size_mm"], checks
        assert all("Quiz" in c["quiz"] for c in checks.values()), checks

        assert sorted(p.parent.name for p in (exchange / "submissions").glob("*/00_welcome.ipynb")) == sorted(STUDENTS)

        # the instructor grades the collected submissions in their own server
        assert hub.api("GET", f"/users/{INSTRUCTOR}").json()["admin"]  # RADNB_INSTRUCTORS -> hub admin
        figures["instructor_start_s"] = round(hub.start_server(INSTRUCTOR), 2)
        grading_started = time.monotonic()
        source = nbformat.read(ROOT / "instructor" / "notebooks" / "00_welcome.ipynb", as_version=4)
        hub.user(INSTRUCTOR, "PUT", "/api/contents/course-source", json={"type": "directory"})
        hub.user(INSTRUCTOR, "PUT", "/api/contents/course-source/00_welcome.ipynb",
                 json={"type": "notebook", "format": "json", "content": source})
        kernel = hub.user(INSTRUCTOR, "POST", "/api/kernels", json={"name": "python3"}).json()["id"]
        graded = hub.run_code(INSTRUCTOR, kernel, (
            "import subprocess, sys\n"
            "done = subprocess.run([sys.executable, '-m', 'radnb.cli', 'course', 'grade', 'exchange/submissions',\n"
            "                       '--source', 'course-source', '--out', 'exchange/grades', '--timeout', '120'],\n"
            "                      capture_output=True, text=True)\n"
            "print(done.returncode); print(done.stdout); print(done.stderr[-2000:])"), timeout=400)
        printed = _text(graded["outputs"])
        assert graded["error"] is None and printed.startswith("0"), printed
        gradebook = hub.user(INSTRUCTOR, "GET", "/api/contents/exchange/grades/gradebook.csv").json()["content"]
        rows = {row["student"]: row for row in csv.DictReader(io.StringIO(gradebook))}
        figures["grading_s"] = round(time.monotonic() - grading_started, 2)
    finally:
        for name in list(hub.user_tokens):
            try:
                hub.api("DELETE", f"/users/{name}/server")
            except Exception:  # noqa: BLE001 - best effort before stopping the hub
                pass
        hub_proc.terminate()
        try:
            hub_proc.wait(30)
        except subprocess.TimeoutExpired:
            hub_proc.kill()
        log.close()
        (artifacts_dir / "hub_figures.json").write_text(json.dumps(figures, indent=2))

    assert sorted(rows) == sorted(STUDENTS), rows
    possible = float(rows["student1"]["possible"])
    assert possible >= 2
    assert float(rows["student1"]["total"]) == possible                      # both right
    assert float(rows["student2"]["total"]) == possible - 1                  # wrong size, right quiz
    assert float(rows["student3"]["total"]) == possible - 2                  # nothing written, wrong quiz
    # no user's server failed to start or was left running
    assert all(u["start_s"] > 0 and u["memory_mb"] > 0 for u in figures["users"].values())
