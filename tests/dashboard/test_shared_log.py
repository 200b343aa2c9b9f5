"""Two ``eomine serve`` processes on two ports sharing one PostgreSQL edit log (as on two hosts): each sees the
other's edits within the app's poll interval, undo works across them, and kill -9 of one during a 10,000-patch
batch leaves the shared history with the whole batch or none of it, the other server working on. A real
PostgreSQL server (``postgres_url``), real processes, no mock."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

from _server import start_server
from test_access import _make_big_ws

from dashboard.panels.curate import POLL_MS
from mining.curation import open_log


def _post(url: str, path: str, body: dict, timeout: float = 60) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=timeout))


def _history(url: str) -> dict:
    return json.load(urllib.request.urlopen(url + "/eomine/api/history", timeout=30))


def _seen_within(url: str, version: int, seconds: float) -> float:
    """Seconds until the server at ``url`` reports log version ``version`` (fails after ``seconds``)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if _history(url)["version"] >= version:
            return time.perf_counter() - t0
        time.sleep(0.1)
    raise AssertionError(f"{url} did not see version {version} within {seconds} s")


def test_two_servers_share_one_postgresql_log(tmp_path: Path, postgres_url):
    ws = _make_big_ws(tmp_path / "ws")
    env = {"TMPDIR": str(tmp_path)}  # (a killed server leaves its job cache here, not in /tmp)
    a, url_a = start_server(ws, "--log", postgres_url, env=env)
    b, url_b = start_server(ws, "--log", postgres_url, env=env)
    try:
        poll = POLL_MS / 1000
        r1 = _post(url_a, "/eomine/api/edits", {"author": "ana", "note": "from A", "request_id": "a-1",
                                                "edits": [{"patch_id": "P000001", "op": "flag"}]})
        assert r1["batch"] == 1
        assert _seen_within(url_b, 1, poll) < poll
        # B's next edit lands after A's, and B's snapshot (the labels its page shows) includes A's batch
        r2 = _post(url_b, "/eomine/api/edits", {"author": "bo", "edits": [
            {"patch_id": "P000002", "op": "add", "label": "Urban fabric"}]})
        assert (r2["batch"], r2["version"]) == (2, 2)
        assert _seen_within(url_a, 2, poll) < poll
        # a request id is spent for both servers; an undo on A of B's batch is seen by B
        again = _post(url_b, "/eomine/api/edits", {"author": "ana", "request_id": "a-1",
                                                   "edits": [{"patch_id": "P000001", "op": "flag"}]})
        assert again["duplicate"] and again["batch"] == 1
        u = _post(url_a, "/eomine/api/undo", {"author": "bo"})
        assert u["batch"] == 3 and u["target"] == 2
        assert _seen_within(url_b, 3, poll) < poll
        ha, hb = _history(url_a), _history(url_b)
        assert ha == hb and [x["author"] for x in ha["batches"]] == ["ana", "bo", "bo"]
        assert [x["active"] for x in hb["batches"]] == [True, False, False]
        # kill -9 of A in the middle of a 10,000-patch batch: B sees all of it or none of it, and goes on
        big = {"author": "ana", "note": "big", "edits": [{"patch_id": f"P{i:06d}", "op": "set",
                                                          "labels": ["Urban fabric"]} for i in range(10_000)]}
        t = threading.Thread(target=lambda: _try_post(url_a, big))
        t.start()
        time.sleep(0.25)  # (the request takes about 0.4 s to parse, check and commit here)
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        t.join(60)
        h = _history(url_b)["batches"]
        log = open_log(ws, postgres_url, create=False)
        counts = log.events().groupby("batch").size()
        assert all(counts.get(x["id"], 0) == x["n_events"] for x in h), "a partial batch is visible"
        assert len(h) in (3, 4)
        cur = log.current_labels()
        urban = cur.Y[cur.rows([f"P{i:06d}" for i in range(10_000)]), 0]
        assert urban.all() if len(h) == 4 else not urban.any()
        r = _post(url_b, "/eomine/api/edits", {"author": "bo", "edits": [{"patch_id": "P000003", "op": "flag"}]})
        assert r["batch"] == len(h) + 1
        print("kill -9 during the big batch: batches after it", len(h))
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.terminate()
                p.wait(10)


def _try_post(url: str, body: dict) -> None:
    try:
        _post(url, "/eomine/api/edits", body)
    except OSError:
        pass  # the server died under the request
