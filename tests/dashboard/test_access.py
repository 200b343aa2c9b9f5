"""Who may do what (:mod:`dashboard.access`): the edit API, read-only (403), basic auth, and kill -9 of a real
server during a 10,000-patch batch."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _server import start_server

from dashboard.access import Credentials, load_credentials
from dashboard.app import create_app
from dashboard.panels import curate
from mining.curation import Edit, EditLog
from mining.errors import DataError


@pytest.fixture
def ws_copy(demo_ws, tmp_path) -> Path:
    out = tmp_path / "ws"
    shutil.copytree(demo_ws, out, ignore=shutil.ignore_patterns("edits.*"))
    return out


@pytest.fixture
def app(ws_copy):
    return create_app(ws_copy)


def _post(client, path, body, **kw):
    return client.post(path, data=json.dumps(body), content_type="application/json", **kw)


# --------------------------------------------------------------------------------------------- HTTP
def test_edit_api_validates_ids_and_labels(app):
    c = app.server.test_client()
    state = app.server.extensions["eomine"]
    data = state.current
    pid = str(data.ids[3])
    r = _post(c, "/eomine/api/edits", {"author": "ana", "edits": [{"patch_id": "../../workspace.json", "op": "flag"}]})
    assert r.status_code == 400 and "../../workspace.json" in r.json["error"]
    r = _post(c, "/eomine/api/edits", {"author": "ana", "edits": [{"patch_id": pid, "op": "add", "label": "Lava"}]})
    assert r.status_code == 400 and "Lava" in r.json["error"]
    r = _post(c, "/eomine/api/edits", {"edits": [{"patch_id": pid, "op": "flag"}]})
    assert r.status_code == 400 and "author" in r.json["error"]
    r = _post(c, "/eomine/api/edits", {"author": "ana", "edits": "DROP TABLE events"})
    assert r.status_code == 400
    assert data.edits.version() == 0
    r = _post(c, "/eomine/api/edits", {"author": "ana", "note": "n", "edits": [
        {"patch_id": pid, "op": "set", "labels": [data.classes[2]]}]})
    assert r.status_code == 200 and r.json["batch"] == 1 and r.json["version"] == 1
    assert state.current.labels_of(3) == [data.classes[2]]  # the app's snapshot follows the edit at once
    hist = c.get("/eomine/api/history").json["batches"]
    assert [(b["author"], b["note"], b["source"]) for b in hist] == [("ana", "n", "api")]


def test_a_repeated_request_id_returns_the_first_result(app):
    """A double click, a retried request or two tabs replaying: one batch, and the repeat gets its result."""
    c = app.server.test_client()
    state = app.server.extensions["eomine"]
    data = state.current
    pids = [str(p) for p in data.ids[:3]]
    body = {"author": "ana", "request_id": "tab-1/42", "edits": [{"patch_id": p, "op": "flag"} for p in pids]}
    first = _post(c, "/eomine/api/edits", body)
    assert first.status_code == 200 and first.json == {"batch": 1, "version": 1, "n": 3, "duplicate": False}
    again = _post(c, "/eomine/api/edits", body)
    assert again.status_code == 200 and again.json == {"batch": 1, "version": 1, "n": 3, "duplicate": True}
    # another edit with the same id is the same request as far as the log is concerned: nothing written
    other = _post(c, "/eomine/api/edits", {**body, "edits": [{"patch_id": pids[0], "op": "exclude"}]})
    assert other.json["duplicate"] and other.json["batch"] == 1
    assert data.edits.version() == 1 and not state.current.labels.excluded.any()
    assert _post(c, "/eomine/api/edits", {**body, "request_id": 5}).status_code == 400
    assert _post(c, "/eomine/api/edits", {**body, "request_id": ""}).status_code == 400
    # undo: named, once per id
    u = _post(c, "/eomine/api/undo", {"author": "ana", "request_id": "undo-1"})
    assert u.status_code == 200 and u.json["batch"] == 2 and not u.json["duplicate"] and u.json["target"] == 1
    assert u.json["message"] == "Undid batch 1 (Flag 3 patches, ana)"
    assert u.json["reverted"]["batch"] == 1 and u.json["reverted"]["n_patches"] == 3
    u2 = _post(c, "/eomine/api/undo", {"author": "ana", "request_id": "undo-1"})
    assert u2.json["duplicate"] and u2.json["batch"] == 2 and u2.json["message"] == u.json["message"]
    assert data.edits.version() == 2 and not state.current.labels.flagged.any()
    r = _post(c, "/eomine/api/redo", {"author": "ana"})
    assert r.json["message"] == "Redid batch 1 (Flag 3 patches, ana)" and state.current.labels.flagged.sum() == 3
    nothing = _post(c, "/eomine/api/redo", {"author": "ana"}).json
    assert nothing["batch"] is None and nothing["message"] == "Nothing to redo for ana."
    hist = c.get("/eomine/api/history").json["batches"]
    assert [(b["kind"], b["target"], b["request_id"]) for b in hist] == [
        ("edit", None, "tab-1/42"), ("undo", 1, "undo-1"), ("redo", 1, None)]
    assert hist[1]["note"] == "undo of batch 1 (Flag 3 patches, ana)"


def test_commit_edits_and_undo_redo_pass_the_request_id(app):
    from dashboard.access import commit_edits, undo_redo

    state = app.server.extensions["eomine"]
    pid = str(state.current.ids[0])
    res = commit_edits(state, [Edit(pid, "confirm")], author="rev", request_id="r")
    assert res == {"batch": 1, "version": 1, "n": 1, "duplicate": False}
    assert commit_edits(state, [Edit(pid, "confirm")], author="rev", request_id="r")["duplicate"]
    assert state.current.labels.confirmed.sum() == 1
    u = undo_redo(state, "undo", author="rev", request_id="u")
    assert u["message"] == "Undid batch 1 (Confirm 1 patch, rev)" and not u["duplicate"]
    assert undo_redo(state, "undo", author="rev", request_id="u")["duplicate"]
    assert state.current.labels.version == 2


def test_read_only_refuses_every_edit_with_403(ws_copy):
    app = create_app(ws_copy, read_only=True)
    c = app.server.test_client()
    state = app.server.extensions["eomine"]
    data = state.current
    layout = c.get("/_dash-layout").get_data(as_text=True)
    assert "curate-action" not in layout and "curate-author-input" not in layout
    pid = str(data.ids[0])
    for path, body in (("/eomine/api/edits", {"author": "x", "edits": [{"patch_id": pid, "op": "flag"}]}),
                       ("/eomine/api/undo", {"author": "x"}), ("/eomine/api/redo", {"author": "x"})):
        assert _post(c, path, body).status_code == 403
    forged = {"output": "..edits-version-store.data...curate-message.children...curate-note.value..",
              "outputs": [], "inputs": [{"id": {"type": "curate-action", "target": "focus", "op": "flag"},
                                         "property": "n_clicks", "value": 1}], "changedPropIds": [], "state": []}
    assert _post(c, "/_dash-update-component", forged).status_code == 403
    # the plain function refuses too (read-only is enforced on the server, not by hiding buttons)
    res = curate.run_action(state, "focus", "flag", author="x", selected=pid)
    assert res["version"] is None and "read-only" in res["message"]
    assert not (ws_copy / "edits.sqlite").exists()
    assert c.get("/_dash-layout").status_code == 200  # reading still works


def test_basic_auth_on_every_request(ws_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("EOMINE_TEST_AUTH", "ana:s3cret")
    creds = load_credentials("env:EOMINE_TEST_AUTH")
    assert creds == Credentials("ana", "s3cret")
    (tmp_path / "auth").write_text("bo:pw:with:colons\n")
    assert load_credentials(f"file:{tmp_path / 'auth'}") == Credentials("bo", "pw:with:colons")
    with pytest.raises(DataError, match="NOPE_VAR"):
        load_credentials("env:NOPE_VAR")
    (tmp_path / "bad").write_text("no-colon")
    with pytest.raises(DataError, match="user:password"):
        load_credentials(str(tmp_path / "bad"))
    app = create_app(ws_copy, credentials=creds)
    c = app.server.test_client()

    def auth(u, p):
        return {"Authorization": "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()}

    assert c.get("/").status_code == 401 and "Basic" in c.get("/").headers["WWW-Authenticate"]
    assert c.get("/", headers=auth("ana", "wrong")).status_code == 401
    pid = str(app.server.extensions["eomine"].current.ids[0])
    body = {"author": "ana", "edits": [{"patch_id": pid, "op": "flag"}]}
    assert _post(c, "/eomine/api/edits", body).status_code == 401
    # the scatter's render route (a zoom posted by assets/plots.js) is behind the same login
    view = {"view": {"x": [0, 1], "y": [0, 1]}}
    assert _post(c, "/eomine/render/scatter", view).status_code == 401
    assert _post(c, "/eomine/render/scatter", view, headers=auth("ana", "s3cret")).status_code == 200
    assert c.get("/", headers=auth("ana", "s3cret")).status_code == 200
    r = _post(c, "/eomine/api/edits", body, headers=auth("ana", "s3cret"))
    assert r.status_code == 200
    assert EditLog(ws_copy).batches()["source"].tolist() == ["api (login ana)"]


def test_serve_refuses_other_interfaces_without_auth(ws_copy):
    from click.testing import CliRunner

    from eomine.cli import main

    r = CliRunner().invoke(main, ["serve", str(ws_copy), "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "--auth" in r.output
    r = CliRunner().invoke(main, ["serve", str(ws_copy), "--host", "0.0.0.0", "--auth", "env:EOMINE_UNSET_VAR"])
    assert r.exit_code == 2 and "EOMINE_UNSET_VAR" in r.output


# --------------------------------------------------------------------------------------------- real server, kill -9
def _make_big_ws(path: Path, n: int = 12_000) -> Path:
    from mining.nomenclature import load_nomenclature
    from mining.workspace import Workspace, conform_catalog, write_parquet

    nom = load_nomenclature("ben19")
    rng = np.random.default_rng(0)
    path.mkdir(parents=True)
    df = pd.DataFrame({"patch_id": [f"P{i:06d}" for i in range(n)], "dataset": "test",
                       "labels": [[nom.classes[j]] for j in rng.integers(2, 19, n)],
                       "lon": rng.uniform(5, 20, n), "lat": rng.uniform(40, 60, n)})
    write_parquet(conform_catalog(df), path / "catalog.parquet")
    meta = Workspace.describe(dataset="test", nomenclature=nom, bands=[], n_patches=n, made_by={})
    (path / "workspace.json").write_text(json.dumps(meta))
    return path


def test_kill_9_of_the_server_during_a_10000_patch_batch(tmp_path):
    ws = _make_big_ws(tmp_path / "big")
    ids = [f"P{i:06d}" for i in range(10_000)]
    body = json.dumps({"author": "ana", "note": "big", "edits": [
        {"patch_id": p, "op": "set", "labels": ["Urban fabric"]} for p in ids]}).encode()
    outcomes = []
    for delay in (0.05, 0.3, 0.8):
        # (a killed server cannot remove its job-cache folder: keep it in this test's folder, not /tmp)
        proc, url = start_server(ws, env={"TMPDIR": str(tmp_path)})
        result = {}

        def send(url=url, result=result):
            req = urllib.request.Request(url + "/eomine/api/edits", data=body,
                                         headers={"Content-Type": "application/json"})
            try:
                result["status"] = urllib.request.urlopen(req, timeout=60).status
            except Exception as exc:  # the server died under the request
                result["error"] = repr(exc)

        t = threading.Thread(target=send)
        t.start()
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t.join(60)
        log = EditLog(ws)  # after the "restart"
        h = log.batches()
        counts = log.events().groupby("batch").size()
        assert (counts.reindex(h["id"]).fillna(0).to_numpy() == 10_000).all(), "a partial batch is visible"
        outcomes.append((delay, len(h), result))
        # labels are all-or-nothing too
        cur = log.current_labels()
        urban = cur.Y[cur.rows(ids), 0]
        assert urban.all() if len(h) else not urban.any()
        # a restarted server reads the same log and keeps working
    proc, url = start_server(ws)
    try:
        hist = json.load(urllib.request.urlopen(url + "/eomine/api/history", timeout=30))
        assert len(hist["batches"]) == len(EditLog(ws).batches())
        req = urllib.request.Request(url + "/eomine/api/undo", data=b'{"author": "ana"}',
                                     headers={"Content-Type": "application/json"})
        res = json.load(urllib.request.urlopen(req, timeout=60))
        assert (res["batch"] is None) == (len(hist["batches"]) == 0)
    finally:
        proc.terminate()
        proc.wait(10)
    print("kill -9 outcomes (delay s, batches after restart, client saw):", outcomes)


def test_a_terminated_server_exits_cleanly_and_leaves_no_job_cache(tmp_path):
    """``kill PID`` (SIGTERM: systemd, docker stop) ends the server like Ctrl-C: exit status 0, and the
    temporary folder of its background jobs is removed instead of piling up in /tmp."""
    ws = _make_big_ws(tmp_path / "ws")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, url = start_server(ws, env={"TMPDIR": str(tmp)})
    try:
        assert list(tmp.glob("eomine-jobs-*")), "the server keeps its job cache under TMPDIR"
    finally:
        proc.terminate()
        rc = proc.wait(30)
    assert rc == 0
    assert not list(tmp.glob("eomine-jobs-*"))
