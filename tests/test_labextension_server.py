"""radnb's Jupyter server extension (radnb.serverext) against a real Jupyter server on 127.0.0.1.

One server serves the module: it loads this checkout's extension through
``radnb.serverext.development_environment`` (config + data folders, nothing installed).
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import radnb
from radnb.data.synthetic import make_ct_volumes
from radnb.serverext import PathOutsideRootError, development_environment, resolve_in_root
from radnb.viewers.testing import JupyterServer

pytestmark = pytest.mark.timeout(180)

SHAPE = (6, 32, 32)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("serverext")
    root = work / "root"
    root.mkdir()
    cases = make_ct_volumes(root / "study", n_patients=1, shape=SHAPE)
    series_dir = root / "study" / cases.series[0]
    # a broken DICOM in the folder: right preamble, truncated header
    (series_dir / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x40\x00" + b"1.2")
    (root / "notes.txt").write_text("not an image\n")
    outside = work / "outside"
    outside.mkdir()
    first = sorted(series_dir.glob("*.dcm"))[0]
    (outside / "secret.dcm").write_bytes(first.read_bytes())
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    (root / "link-in").symlink_to(series_dir, target_is_directory=True)
    old = {k: os.environ.get(k) for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_PATH")}
    os.environ.update(development_environment(work))
    server = JupyterServer(root).start()
    try:
        yield {"server": server, "root": root, "series": f"study/{cases.series[0]}", "series_dir": series_dir,
               "outside": outside}
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _get(server, url, token=True, headers=None, opener=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"token {server.token}"
    req = urllib.request.Request(server.url + url, headers=h)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def _json(server, url, **kw):
    status, _, body = _get(server, url, **kw)
    return status, json.loads(body) if body else None


def test_resolve_in_root_refuses_escapes(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_in_root(str(tmp_path), "a") == os.path.realpath(tmp_path / "a")
    for bad in ("../x", "a/../../x", "/etc/passwd", "a/../..", "..\\x"):
        with pytest.raises(PathOutsideRootError):
            resolve_in_root(str(tmp_path), bad)
    (tmp_path / "out").symlink_to("/")
    with pytest.raises(PathOutsideRootError, match="outside the Jupyter root"):
        resolve_in_root(str(tmp_path), "out/etc")


def test_folder_with_broken_file_lists_series_and_the_broken_file(lab):
    status, body = _json(lab["server"], "/radnb/api/series?path=study")
    assert status == 200, body
    assert len(body["series"]) == 1
    entry = body["series"][0]
    assert (entry["modality"], entry["count"], entry["kind"]) == ("CT", SHAPE[0], "volume")
    assert entry["shape"] == list(SHAPE)
    broken = [e for e in body["errors"] if e["file"].endswith("broken.dcm")]
    assert broken and broken[0]["reason"], body["errors"]
    assert str(lab["root"]) not in json.dumps(body)  # server paths shown relative to the root


def test_view_state_pixels_and_header_match_radnb(lab):
    server, path = lab["server"], lab["series"]
    status, view = _json(server, f"/radnb/api/view?path={path}&series=0")
    assert status == 200, view
    state = view["state"]
    expected = radnb.show(lab["series_dir"])
    assert state["_shape"] == list(SHAPE)
    assert state["_spacing"] == pytest.approx(list(expected._spacing))
    assert [p["name"] for p in state["_presets"]] == expected.presets
    assert (state["window"], state["level"], state["preset"]) == (expected.window, expected.level, expected.preset)
    # the on-screen slice alone first, then every slice exactly once
    z = state["position"][0]
    assert view["chunks"][0] == [z, z + 1]
    covered = sorted(k for z0, z1 in view["chunks"] for k in range(z0, z1))
    assert covered == list(range(SHAPE[0]))
    status, ctype, raw = _get(server, f"/radnb/api/pixels?path={path}&series=0&z0=2&z1=4")
    assert status == 200 and ctype.startswith("application/octet-stream")
    assert state["_layers"][0]["dtype"] == "int16"
    got = np.frombuffer(raw, dtype="<i2").reshape(2, SHAPE[1], SHAPE[2])
    hu = radnb.load(lab["series_dir"]).array[2:4]
    np.testing.assert_array_equal(got, np.rint(hu).astype(np.int16))
    rows = {r["keyword"]: r for r in state["_header"]}
    assert rows["PatientName"]["phi"] and rows["PatientName"]["value"] == "(hidden)"
    assert rows["Modality"]["value"] == "CT"
    status, shown = _json(server, f"/radnb/api/header?path={path}&series=0&show_phi=1")
    real_name = str(radnb.load(lab["series_dir"]).meta.PatientName)
    assert {r["keyword"]: r["value"] for r in shown["header"]}["PatientName"] == real_name
    status, hidden = _json(server, f"/radnb/api/header?path={path}&series=0")
    assert real_name not in json.dumps(hidden)
    status, bad = _json(server, f"/radnb/api/pixels?path={path}&series=0&z0=3&z1=99")
    assert status == 400 and "outside" in bad["message"]
    status, bad = _json(server, f"/radnb/api/view?path={path}&series=7")
    assert status == 400 and "series 7 does not exist" in bad["message"]


def test_non_dicom_file_and_missing_path_give_clear_messages(lab):
    status, body = _json(lab["server"], "/radnb/api/view?path=notes.txt")
    assert status == 422 and body["error"] == "NotDicomError"
    assert body["message"].startswith("notes.txt") and "DICOM" in body["message"]
    status, body = _json(lab["server"], "/radnb/api/series?path=nothing-here")
    assert status == 404 and "no such file" in body["message"]


@pytest.mark.parametrize("path", ["../", "study/../../outside", "%2Fetc%2Fpasswd", "link-out", "link-out/secret.dcm"])
def test_paths_outside_the_root_are_refused(lab, path):
    for endpoint in ("series", "view", "header", "preview"):
        status, body = _json(lab["server"], f"/radnb/api/{endpoint}?path={path}")
        assert status == 403, (endpoint, path, body)
        assert body["error"] == "outside_root"
    status, _, raw = _get(lab["server"], f"/radnb/api/pixels?path={path}&z0=0&z1=1")
    assert status == 403 and b"outside" in raw


def test_symlink_inside_the_root_is_allowed(lab):
    status, body = _json(lab["server"], "/radnb/api/series?path=link-in")
    assert status == 200 and body["series"][0]["count"] == SHAPE[0]


def test_unauthenticated_requests_are_refused(lab):
    server, path = lab["server"], lab["series"]
    for url in (f"/radnb/api/series?path={path}", f"/radnb/api/view?path={path}",
                f"/radnb/api/pixels?path={path}&z0=0&z1=1", f"/radnb/api/header?path={path}&show_phi=1"):
        status, _, body = _get(server, url, token=False)
        assert status == 403, (url, status)
        assert b"PatientName" not in body and len(body) < 2000
    status, _, body = _get(server, "/radnb/static/viewer.js", token=False,
                           opener=urllib.request.build_opener(_NoRedirect()))
    assert status in (302, 403) and b"function render" not in body  # sent to the login page
    status, ctype, body = _get(server, "/radnb/static/viewer.js")
    assert status == 200 and b"function render" in body and "javascript" in ctype
    status, _, _ = _get(server, f"/radnb/api/series?path={path}", token=False, headers={"Authorization": "token wrong"})
    assert status == 403


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_cookie_sessions_need_xsrf_or_same_origin(lab):
    """As Jupyter's own /files: a browser session (cookie) needs the XSRF token or a same-origin Referer."""
    server, path = lab["server"], lab["series"]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _, _ = _get(server, f"/lab?token={server.token}", token=False, opener=opener)
    assert status == 200
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    url = f"/radnb/api/series?path={path}"
    status, _, _ = _get(server, url, token=False, opener=opener, headers={"Referer": "http://evil.example/page"})
    assert status == 403
    status, _, _ = _get(server, url, token=False, opener=opener)  # no Referer, no XSRF header
    assert status == 403
    status, _, _ = _get(server, url, token=False, opener=opener, headers={"X-XSRFToken": xsrf})
    assert status == 200
    status, _, _ = _get(server, url, token=False, opener=opener, headers={"Referer": f"{server.url}/lab"})
    assert status == 200


def test_preview_shows_one_image_of_a_folder_until_it_is_read(tmp_path):
    """In-process (no server): a folder's preview is one of its images, with the viewer's own state."""
    import base64

    from radnb.serverext import StudyCache, preview_response

    cases = make_ct_volumes(tmp_path / "s", n_patients=1, shape=SHAPE)
    rel = f"s/{cases.series[0]}"
    answer = preview_response(str(tmp_path), rel)
    assert answer["preview"] and answer["state"]["_shape"] == [1, SHAPE[1], SHAPE[2]]
    assert answer["file"].startswith(rel) and "Preview" in answer["state"]["_notices"][0]
    pixels = np.frombuffer(base64.b64decode(answer["pixels"]), "<i2").reshape(SHAPE[1], SHAPE[2])
    np.testing.assert_array_equal(pixels, np.rint(radnb.load(tmp_path / answer["file"]).array).astype(np.int16))
    assert answer["state"]["preset"] == radnb.show(tmp_path / rel).preset  # same opening window as the study
    assert preview_response(str(tmp_path), f"{answer['file']}") == {"preview": False}  # a file needs none
    cache = StudyCache()
    assert not cache.has(str(tmp_path), rel)
    cache.get(str(tmp_path), rel)
    assert cache.has(str(tmp_path), rel)
    with pytest.raises(PathOutsideRootError):
        preview_response(str(tmp_path), "../")


def test_serverext_docstring_examples_run():
    import doctest

    import radnb.serverext

    result = doctest.testmod(radnb.serverext, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 8


def test_folder_with_several_series_lists_each_once(tmp_path):
    """In-process: a CT series and a radiograph in one folder are two entries, each viewable."""
    import shutil

    from radnb.data.synthetic import make_chest_xrays
    from radnb.serverext import Study

    cases = make_ct_volumes(tmp_path / "ct", n_patients=1, shape=SHAPE)
    mixed = tmp_path / "root" / "mixed"
    shutil.copytree(tmp_path / "ct" / cases.series[0], mixed / "ct")
    make_chest_xrays(tmp_path / "xr", n_patients=1, images_per_patient=(1, 1), size=48)
    shutil.copy(next((tmp_path / "xr").rglob("*.dcm")), mixed / "chest.dcm")
    study = Study(str(tmp_path / "root"), "mixed", str(mixed))
    described = study.describe()
    kinds = sorted((s["modality"], s["kind"], s["count"]) for s in described["series"])
    assert len(kinds) == 2 and ("CT", "volume", SHAPE[0]) in kinds
    other = next(s for s in described["series"] if s["modality"] != "CT")
    assert other["kind"] == "image" and other["file"] == "mixed/chest.dcm"
    assert study.viewer(other["index"]).shape == (1, 48, 48)
    assert study.viewer(1 - other["index"]).shape == SHAPE
    study.close()
