"""radnb.data.fetch against a real HTTP server on 127.0.0.1 (no internet needed)."""
from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import socket
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from radnb.data import fetch as F
from radnb.errors import RadnbError

# --------------------------------------------------------------------------- local server


class LocalServer:
    """A real HTTP server on 127.0.0.1 serving in-memory files, with scripted misbehaviour.

    ``modes[path]`` is one of: ``"ok"`` (default; honours Range), ``"norange"`` (ignores
    Range), ``"cut"`` (first GET sends half the body then drops the connection),
    ``"hang"`` (no answer for 2 s), ``"stall"`` (headers, half the body, then 2 s of
    silence), ``"slow"`` (body in 10 pieces over ~0.5 s), ``"500"``/``"404"``.
    """

    def __init__(self):
        self.files: dict = {}
        self.modes: dict = {}
        self.requests: list = []
        self._cut_done: set = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                rng = self.headers.get("Range")
                server.requests.append((path, rng))
                mode = server.modes.get(path, "ok")
                if mode in ("500", "404") or path not in server.files:
                    code = 404 if (mode == "404" or path not in server.files) else 500
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.files[path]
                if mode == "hang":
                    time.sleep(2)
                    self.close_connection = True
                    return
                start = 0
                if rng and mode != "norange":
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if mode == "cut" and path not in server._cut_done:
                    server._cut_done.add(path)
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "stall":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    time.sleep(2)
                    self.close_connection = True
                    return
                if mode == "slow":
                    step = max(1, len(payload) // 10)
                    for i in range(0, len(payload), step):
                        self.wfile.write(payload[i:i + step])
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, name: str, data: bytes, mode: str = "ok") -> str:
        self.files["/" + name] = data
        self.modes["/" + name] = mode
        return f"{self.base}/{name}"

    def gets(self, name: str) -> list:
        return [r for r in self.requests if r[0] == "/" + name]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.stop()


def closed_port_url(name: str = "file.bin") -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more: connection refused
    return f"http://127.0.0.1:{port}/{name}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(root: Path, exclude: Path) -> set:
    """All paths under root except those inside ``exclude`` (the radnb cache)."""
    out = set()
    for p in root.rglob("*"):
        if exclude == p or exclude in p.parents:
            continue
        out.add(p)
    return out


PAYLOAD = os.urandom(300_000)

# --------------------------------------------------------------------------- download


def test_fetch_downloads_verifies_and_reuses_cache_offline(server, tmp_data_dir, capsys):
    url = server.add("scan.npz", PAYLOAD)
    path = F.fetch(url, sha(PAYLOAD), "scan.npz")
    assert path == tmp_data_dir / "downloads" / "scan.npz"
    assert path.read_bytes() == PAYLOAD
    assert "Downloading scan.npz" in capsys.readouterr().err  # the text progress bar
    record = F.read_record(path)
    assert record["sha256"] == sha(PAYLOAD) and record["trust_on_first_use"] is False
    assert not (path.parent / ".partial" / "scan.npz.part").exists()
    server.stop()  # second call must not touch the network
    again = F.fetch(url, sha(PAYLOAD), "scan.npz", timeout=0.5)
    assert again == path and again.read_bytes() == PAYLOAD
    assert len(server.gets("scan.npz")) == 1


def test_progress_can_be_disabled_and_sha256_prefix_md5_checks(server, tmp_data_dir, capsys):
    url = server.add("w-abcdef12.pth", PAYLOAD)
    path = F.fetch(url, sha(PAYLOAD)[:8], "w-abcdef12.pth", progress=False,
                   md5=hashlib.md5(PAYLOAD).hexdigest(), head_md5=hashlib.md5(PAYLOAD[: 1 << 20]).hexdigest(),
                   expected_size=len(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert "Downloading" not in capsys.readouterr().err


def test_checksum_mismatch_discards_the_file(server, tmp_data_dir):
    url = server.add("bad.npz", PAYLOAD)
    with pytest.raises(F.ChecksumError) as err:
        F.fetch(url, "0" * 64, "bad.npz", progress=False)
    message = str(err.value)
    assert "discarded" in message and url in message
    assert isinstance(err.value, RadnbError)
    folder = tmp_data_dir / "downloads"
    assert not (folder / "bad.npz").exists()
    assert not (folder / ".partial" / "bad.npz.part").exists()


def test_md5_mismatch_and_wrong_size_are_checksum_errors(server, tmp_data_dir):
    url = server.add("m.bin", PAYLOAD)
    with pytest.raises(F.ChecksumError, match="md5"):
        F.fetch(url, None, "m.bin", md5="0" * 32, progress=False)
    with pytest.raises(F.ChecksumError, match="size"):
        F.fetch(url, None, "m.bin", expected_size=len(PAYLOAD) + 1, progress=False)
    assert not (tmp_data_dir / "downloads" / "m.bin").exists()


@pytest.mark.parametrize("code", ["500", "404"])
def test_server_error_is_a_download_error_naming_the_url(server, tmp_data_dir, code):
    url = server.add("e.bin", PAYLOAD, mode=code)
    with pytest.raises(F.DownloadError) as err:
        F.fetch(url, sha(PAYLOAD), "e.bin", progress=False)
    assert not isinstance(err.value, F.OfflineError)
    assert f"HTTP {code}" in str(err.value) and url in str(err.value)
    assert not (tmp_data_dir / "downloads" / "e.bin").exists()


def test_unresponsive_server_fails_fast_as_offline(server, tmp_data_dir):
    url = server.add("h.bin", PAYLOAD, mode="hang")
    t0 = time.monotonic()
    with pytest.raises(F.OfflineError) as err:
        F.fetch(url, sha(PAYLOAD), "h.bin", timeout=0.4, progress=False)
    assert time.monotonic() - t0 < 1.9  # the short timeout, not the server's 2 s
    assert url in str(err.value)


def test_stalled_transfer_times_out_and_leaves_no_file_in_place(server, tmp_data_dir):
    url = server.add("s.bin", PAYLOAD, mode="stall")
    t0 = time.monotonic()
    with pytest.raises(F.DownloadError, match="stopped sending"):
        F.fetch(url, sha(PAYLOAD), "s.bin", timeout=0.4, progress=False)
    assert time.monotonic() - t0 < 1.9
    assert not (tmp_data_dir / "downloads" / "s.bin").exists()


def test_interrupted_download_resumes_with_http_range(server, tmp_data_dir):
    url = server.add("r.bin", PAYLOAD, mode="cut")
    with pytest.raises(F.DownloadError, match="resume"):
        F.fetch(url, sha(PAYLOAD), "r.bin", progress=False)
    final = tmp_data_dir / "downloads" / "r.bin"
    part = tmp_data_dir / "downloads" / ".partial" / "r.bin.part"
    assert not final.exists()
    assert 0 < part.stat().st_size < len(PAYLOAD)
    have = part.stat().st_size
    path = F.fetch(url, sha(PAYLOAD), "r.bin", progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.gets("r.bin")[-1][1] == f"bytes={have}-"  # resumed, not restarted
    assert not part.exists()


def test_resume_falls_back_to_full_download_without_range_support(server, tmp_data_dir):
    url = server.add("n.bin", PAYLOAD, mode="cut")
    with pytest.raises(F.DownloadError):
        F.fetch(url, sha(PAYLOAD), "n.bin", progress=False)
    server.modes["/n.bin"] = "norange"
    path = F.fetch(url, sha(PAYLOAD), "n.bin", progress=False)
    assert path.read_bytes() == PAYLOAD


def test_stale_partial_file_is_replaced_by_a_fresh_download(server, tmp_data_dir):
    url = server.add("stale.bin", PAYLOAD)
    part = tmp_data_dir / "downloads" / ".partial" / "stale.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(os.urandom(1000))  # left over from an older version of the file
    path = F.fetch(url, sha(PAYLOAD), "stale.bin", progress=False)
    assert path.read_bytes() == PAYLOAD
    assert [r[1] for r in server.gets("stale.bin")] == ["bytes=1000-", None]


def _child_fetch(url, digest, data_dir, queue):
    os.environ["RADNB_DATA"] = data_dir
    try:
        queue.put(str(F.fetch(url, digest, "shared.bin", progress=False)))
    except Exception as exc:  # report to the parent instead of dying silently
        queue.put(f"ERROR {type(exc).__name__}: {exc}")


def test_two_processes_fetching_the_same_file_do_not_corrupt_it(server, tmp_data_dir):
    big = os.urandom(2_000_000)
    url = server.add("shared.bin", big, mode="slow")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child_fetch, args=(url, sha(big), str(tmp_data_dir), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert results[0] == results[1] == str(tmp_data_dir / "downloads" / "shared.bin"), results
    assert Path(results[0]).read_bytes() == big
    assert len(server.gets("shared.bin")) == 1  # the second process waited for the lock and reused the file


def test_manually_placed_file_is_accepted_offline(tmp_data_dir):
    url = closed_port_url("manual.npz")
    dest = F.cache_path("manual.npz")
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD)
    assert F.fetch(url, sha(PAYLOAD), "manual.npz", timeout=0.5) == dest


def test_manually_placed_wrong_file_is_discarded_then_redownloaded(server, tmp_data_dir):
    url = server.add("placed.npz", PAYLOAD)
    dest = F.cache_path("placed.npz")
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"not the real file")
    path = F.fetch(url, sha(PAYLOAD), "placed.npz", progress=False)
    assert path.read_bytes() == PAYLOAD


def test_offline_error_says_how_to_proceed(tmp_data_dir):
    url = closed_port_url("pneumonia.npz")
    t0 = time.monotonic()
    with pytest.raises(F.OfflineError) as err:
        F.fetch(url, "ab" * 32, "pneumonia.npz", timeout=2)
    assert time.monotonic() - t0 < 2
    message = str(err.value)
    dest = tmp_data_dir / "downloads" / "pneumonia.npz"
    assert url in message
    assert str(dest) in message  # where to put a manually downloaded copy
    assert "RADNB_MIRROR" in message and "RADNB_DATA" in message
    assert "radnb.sample_data(" in message  # the synthetic alternative
    assert err.value.dest == dest and err.value.url == url
    assert not dest.exists()


def test_mirror_replaces_the_url(server, tmp_data_dir, monkeypatch):
    server.add("mirrored.npz", PAYLOAD)
    monkeypatch.setenv("RADNB_MIRROR", server.base + "/")
    path = F.fetch("https://unreachable.invalid/files/mirrored.npz?download=1", sha(PAYLOAD), "mirrored.npz",
                   progress=False)
    assert path.read_bytes() == PAYLOAD
    assert server.gets("mirrored.npz")


def test_trust_on_first_use_detects_a_changed_file(server, tmp_data_dir):
    url = server.add("tofu.zip", PAYLOAD)
    path = F.fetch(url, None, "tofu.zip", progress=False)
    assert F.read_record(path)["trust_on_first_use"] is True
    server.files["/tofu.zip"] = PAYLOAD[::-1]  # the server's copy changes
    with pytest.raises(F.ChecksumError, match="first downloaded"):
        F.fetch(url, None, "tofu.zip", progress=False, force=True)
    assert not path.exists()
    # a cached copy altered on disk is also caught
    server.files["/tofu.zip"] = PAYLOAD
    (path.parent / ".records" / "tofu.zip.json").unlink()
    path = F.fetch(url, None, "tofu.zip", progress=False)
    path.write_bytes(b"tampered" + PAYLOAD[8:])
    with pytest.raises(F.ChecksumError, match="changed since"):
        F.fetch(url, None, "tofu.zip", progress=False)


def test_filename_must_be_a_plain_name(tmp_data_dir):
    with pytest.raises(F.InvalidArgumentError):
        F.fetch("http://127.0.0.1:9/x", None, "../escape.bin")
    with pytest.raises(F.InvalidArgumentError):
        F.fetch("http://127.0.0.1:9/x", None, "ok.bin", subdir="../../etc")


# --------------------------------------------------------------------------- extraction


def _tar(path: Path, members: list, mode: str = "w") -> Path:
    """members: (TarInfo-kwargs dict, data bytes or None)."""
    with tarfile.open(path, mode) as tf:
        for spec, data in members:
            info = tarfile.TarInfo(spec["name"])
            for key, value in spec.items():
                if key != "name":
                    setattr(info, key, value)
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def test_extract_zip_of_pngs_and_reuse(tmp_data_dir):
    from PIL import Image

    archive = tmp_data_dir / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            buf = io.BytesIO()
            Image.new("L", (8, 8), color=i * 40).save(buf, format="PNG")
            zf.writestr(f"set/train/img{i}.png", buf.getvalue())
    out = F.extract(archive)
    assert out == tmp_data_dir / "imgs"
    assert sorted(p.name for p in (out / "set" / "train").iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert Image.open(out / "set" / "train" / "img1.png").getpixel((0, 0)) == 40
    marker_time = (out / ".radnb-extracted").stat().st_mtime_ns
    assert F.extract(archive) == out and (out / ".radnb-extracted").stat().st_mtime_ns == marker_time


def test_extract_tar_gz_with_inside_symlink(tmp_data_dir):
    archive = _tar(tmp_data_dir / "ok.tar.gz", [
        ({"name": "pkg/a.txt"}, b"A"),
        ({"name": "pkg/docs/link.txt", "type": tarfile.SYMTYPE, "linkname": "../a.txt"}, None),
        ({"name": "pkg/hard.txt", "type": tarfile.LNKTYPE, "linkname": "pkg/a.txt"}, None),
    ], mode="w:gz")
    out = F.extract(archive)
    assert (out / "pkg" / "docs" / "link.txt").read_text() == "A"
    assert (out / "pkg" / "hard.txt").read_text() == "A"


MALICIOUS_TARS = {
    "traversal": [({"name": "../../evil.txt"}, b"pwned")],
    "nested_traversal": [({"name": "ok/../../evil.txt"}, b"pwned")],
    "absolute": [({"name": "ABSOLUTE/evil.txt"}, b"pwned")],
    "symlink_escape": [({"name": "link", "type": tarfile.SYMTYPE, "linkname": "../../"}, None),
                       ({"name": "readme.txt"}, b"x")],
    "symlink_absolute": [({"name": "passwd", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, None)],
    "hardlink_escape": [({"name": "h", "type": tarfile.LNKTYPE, "linkname": "/etc/passwd"}, None)],
    "device": [({"name": "dev", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, None)],
    "fifo": [({"name": "fifo", "type": tarfile.FIFOTYPE}, None)],
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS_TARS))
def test_malicious_tar_is_refused_and_nothing_is_written(tmp_path, tmp_data_dir, kind):
    members = MALICIOUS_TARS[kind]
    if kind == "absolute":
        members = [({"name": str(tmp_path / "evil.txt")}, b"pwned")]
    archive = _tar(tmp_data_dir / f"{kind}.tar", [({"name": "good.txt"}, b"fine")] + members)
    before = snapshot(tmp_path, tmp_data_dir)
    with pytest.raises(F.UnsafeArchiveError) as err:
        F.extract(archive, tmp_data_dir / "out" / kind)
    assert str(archive) in str(err.value)
    assert snapshot(tmp_path, tmp_data_dir) == before  # nothing outside the cache
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_data_dir / "out" / kind).exists()  # not even the good member inside
    leftovers = [p for p in (tmp_data_dir / "out").glob(".*extracting*")] if (tmp_data_dir / "out").exists() else []
    assert leftovers == []


def test_malicious_zip_members_are_refused(tmp_path, tmp_data_dir):
    before = snapshot(tmp_path, tmp_data_dir)
    for name in ("../evil.txt", "/abs/evil.txt", "a\\..\\..\\evil.txt", "C:/evil.txt"):
        archive = tmp_data_dir / "bad.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("good.txt", "fine")
            zf.writestr(zipfile.ZipInfo(name), "pwned")
        with pytest.raises(F.UnsafeArchiveError):
            F.extract(archive, tmp_data_dir / "zout", force=True)
        assert not (tmp_data_dir / "zout").exists()
    # a zip "symlink" (unix mode S_IFLNK) pointing outside
    archive = tmp_data_dir / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "../../../etc")
    with pytest.raises(F.UnsafeArchiveError, match="link"):
        F.extract(archive, tmp_data_dir / "zout")
    assert snapshot(tmp_path, tmp_data_dir) == before


def test_oversize_archives_are_refused(tmp_data_dir):
    archive = tmp_data_dir / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 5_000_000)
    assert archive.stat().st_size < 100_000  # compresses well: a small zip bomb
    with pytest.raises(F.UnsafeArchiveError, match="cap"):
        F.extract(archive, tmp_data_dir / "bomb", max_bytes=1_000_000)
    assert not (tmp_data_dir / "bomb").exists()
    tar = _tar(tmp_data_dir / "many.tar", [({"name": f"f{i}.txt"}, b"x") for i in range(20)])
    with pytest.raises(F.UnsafeArchiveError, match="members"):
        F.extract(tar, tmp_data_dir / "many", max_members=10)


def test_not_an_archive_is_reported(tmp_data_dir):
    junk = tmp_data_dir / "junk.tar"
    junk.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(F.UnsafeArchiveError, match="neither a zip nor a tar"):
        F.extract(junk)


def test_fetch_and_extract_from_the_local_server(server, tmp_data_dir):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"dicom-ish bytes"
        info = tarfile.TarInfo("pack/file.dcm")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    url = server.add("pack.tgz", blob)
    out = F.fetch_and_extract(url, sha(blob), "pack.tgz", progress=False)
    assert (out / "pack" / "file.dcm").read_bytes() == b"dicom-ish bytes"
    assert out.parent == tmp_data_dir / "downloads"


def test_head_md5_matches_fastais_own_check(tmp_path):
    fastdownload = pytest.importorskip("fastdownload.core")
    data = os.urandom(1_500_000)  # more than the first MiB
    path = tmp_path / "siim_like.tgz"
    path.write_bytes(data)
    size, head = fastdownload.path_stats(path)  # what fastai stores in download_checks.py
    assert F.verify_file(path, head_md5=head, expected_size=size) == sha(data)
    with pytest.raises(F.ChecksumError, match="first MiB"):
        F.verify_file(path, head_md5=hashlib.md5(data).hexdigest())


def test_offline_mirror_message_names_mirror_and_origin(tmp_data_dir, monkeypatch):
    mirror_file = closed_port_url("course.npz")
    monkeypatch.setenv("RADNB_MIRROR", mirror_file.rsplit("/", 1)[0])
    origin = "https://zenodo.org/record/1/files/course.npz?download=1"
    with pytest.raises(F.OfflineError) as err:
        F.fetch(origin, None, "course.npz", timeout=1)
    assert mirror_file in str(err.value) and origin in str(err.value)
