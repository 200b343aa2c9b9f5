"""The curation log's storages: edits, undo/redo, conflicts, validation, request ids, and reliability with real
processes (kill -9 mid-batch, two concurrent writers, undo after a restart). The tests of the contract take
``where`` and run on SQLite (``mining.curation.sqlite.EditLog``) and on a real PostgreSQL server
(``mining.curation.postgres.PostgresEditLog``) alike; those of SQLite's own file (a deleted, corrupted or
replaced log, WAL size, POSIX locks, upgrades of older logs) use SQLite only. PostgreSQL only (URLs, schemas,
migration, servers sharing a log): ``test_curation_postgres.py``. The fold alone: ``test_curation_events.py``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mining.curation import DuplicateRequest, Edit, EditLog, EditLogProtocol, open_log
from mining.errors import DataError, WorkspaceError
from mining.nomenclature import load_nomenclature
from mining.workspace import Workspace, conform_catalog, write_parquet

NOM = load_nomenclature("ben19")
C = NOM.classes
ROOT = Path(__file__).resolve().parents[3]


def make_ws(path: Path, n: int, seed: int = 0) -> Path:
    """A catalog-only workspace of ``n`` patches with random BEN-19 labels (what the edit log reads)."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    labels = [sorted({C[j] for j in rng.integers(0, len(C), rng.integers(1, 4))}, key=C.index) for _ in range(n)]
    df = pd.DataFrame({"patch_id": [f"P{i:06d}" for i in range(n)], "dataset": "test",
                       "split": rng.choice(["train", "validation", "test"], n), "labels": labels})
    write_parquet(conform_catalog(df), path / "catalog.parquet")
    meta = Workspace.describe(dataset="test", nomenclature=NOM, bands=[], n_patches=n, made_by={"test": True})
    (path / "workspace.json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_ws(tmp_path_factory.mktemp("tpl") / "ws", 12_000)


@pytest.fixture
def ws(template, tmp_path) -> Path:
    out = tmp_path / "ws"
    shutil.copytree(template, out)
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request) -> str:
    """The storage under test: ``sqlite`` (``WS/edits.sqlite``) or a real PostgreSQL server (a URL with a schema
    of this test's own; skipped with the reason when no server can be had). The contract tests take it."""
    return "sqlite" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def _env(where: str) -> dict:
    """The environment of a writer process: the storage under test as ``$EOMINE_LOG``."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "EOMINE_LOG": where}


def _own(where: str, i: int) -> str:
    """A log of its own for the i-th workspace of a test (PostgreSQL: another schema)."""
    return where if where == "sqlite" else f"{where}_{i}"


def base_labels(ws: Path, pid: str) -> list[str]:
    cat = pd.read_parquet(ws / "catalog.parquet")
    return list(cat.loc[cat["patch_id"] == pid, "labels"].iloc[0])


# --------------------------------------------------------------------------------------------- behaviour
def test_add_remove_set_change_current_labels(ws, where):
    log = open_log(ws, where)
    before = log.current_labels()
    p0, p1, p2 = "P000000", "P000001", "P000002"
    missing = next(c for c in C if c not in base_labels(ws, p0))
    present = base_labels(ws, p1)[0]
    b = log.commit([Edit(p0, "add", missing), Edit(p1, "remove", present),
                    Edit(p2, "set", labels=(C[5], C[2]))], author="ana", note="fix three")
    cur = log.current_labels()
    assert missing in cur.labels_of(p0)
    assert present not in cur.labels_of(p1)
    assert cur.labels_of(p2) == [C[2], C[5]]  # official order
    assert cur.changed.sum() == 3 and before.changed.sum() == 0
    # untouched patches keep the catalog labels
    assert cur.labels_of("P000003") == base_labels(ws, "P000003")
    h = log.batches()
    assert h.loc[h["id"] == b, ["author", "note", "n_events", "active"]].iloc[0].tolist() == ["ana", "fix three", 3,
                                                                                             True]


def test_flag_exclude_keep_are_per_patch_states(ws, where):
    log = open_log(ws, where)
    log.commit([Edit("P000010", "flag"), Edit("P000011", "exclude"), Edit("P000012", "keep")], author="bo")
    cur = log.current_labels()
    r = cur.rows(["P000010", "P000011", "P000012"])
    assert cur.flagged[r].tolist() == [True, False, False]
    assert cur.excluded[r].tolist() == [False, True, False]
    assert cur.confirmed[r].tolist() == [False, False, True]
    log.commit([Edit("P000010", "unflag"), Edit("P000011", "restore"), Edit("P000012", "add", C[0])], author="bo")
    cur = log.current_labels()
    assert not cur.flagged[r].any() and not cur.excluded[r].any()
    assert not cur.confirmed[r[2]]  # a label change after the "keep" supersedes the confirmation


def test_later_event_wins_per_patch_and_label_and_history_keeps_both(ws, where):
    a, b = open_log(ws, where), open_log(ws, where)  # two curators
    pid = "P000020"
    lab = next(c for c in C if c not in base_labels(ws, pid))
    other = next(c for c in C if c not in base_labels(ws, pid) and c != lab)
    a.commit([Edit(pid, "add", lab), Edit(pid, "add", other)], author="ana")
    b.commit([Edit(pid, "remove", lab)], author="bo")
    cur = a.current_labels()
    assert lab not in cur.labels_of(pid)  # bo's later removal wins for this label...
    assert other in cur.labels_of(pid)    # ...and ana's edit of another label stands
    ev = a.events(patch_id=pid)
    assert ev[["author", "op", "label"]].values.tolist() == [["ana", "add", lab], ["ana", "add", other],
                                                             ["bo", "remove", lab]]
    # a later "set" replaces every label of the patch, an earlier one is overridden per label
    b.commit([Edit(pid, "set", labels=(C[0],))], author="bo")
    a.commit([Edit(pid, "add", C[1])], author="ana")
    assert a.current_labels().labels_of(pid) == [C[0], C[1]]


def test_undo_redo_by_batch_and_author(ws, where):
    log = open_log(ws, where)
    pid = "P000030"
    orig = base_labels(ws, pid)
    b1 = log.commit([Edit(pid, "set", labels=(C[3],))], author="ana")
    b2 = log.commit([Edit(pid, "add", C[4])], author="bo")
    assert log.current_labels().labels_of(pid) == [C[3], C[4]]
    u = log.undo(author="ana")  # ana's own last batch, not bo's later one
    assert u is not None and log.current_labels().labels_of(pid) == sorted(
        set(orig) | {C[4]}, key=C.index)
    assert log.undo(author="ana") is None  # nothing left for ana
    assert log.redo(author="ana") is not None
    assert log.current_labels().labels_of(pid) == [C[3], C[4]]
    log.undo()  # anyone's latest: the redone b1 is back on top of the stack
    assert log.current_labels().labels_of(pid) == sorted(set(orig) | {C[4]}, key=C.index)
    log.undo()  # then bo's
    assert log.current_labels().labels_of(pid) == orig
    h = log.batches()
    assert h["kind"].tolist() == ["edit", "edit", "undo", "redo", "undo", "undo"]
    assert h["target"].iloc[2:].tolist() == [b1, b1, b1, b2]
    assert h.set_index("id").loc[[b1, b2], "active"].tolist() == [False, False]
    # undo events name the patches they revert; nothing was deleted
    assert (log.events()["op"] == "undo").sum() == 3
    assert log.redo() is not None and log.current_labels().labels_of(pid) == sorted(set(orig) | {C[4]},
                                                                                       key=C.index)


def test_edit_log_fulfils_the_storage_contract(ws, where):
    assert isinstance(open_log(ws, where), EditLogProtocol)


def test_redo_is_dropped_after_a_new_edit(ws, where):
    log = open_log(ws, where)
    log.commit([Edit("P000040", "flag")], author="ana")
    log.undo(author="ana")
    log.commit([Edit("P000041", "flag")], author="ana")
    assert log.redo(author="ana") is None


def test_bad_input_is_refused_and_nothing_is_written(ws, where):
    log = open_log(ws, where)
    with pytest.raises(DataError, match="NOPE"):
        log.commit([Edit("P000001", "flag"), Edit("NOPE", "flag")], author="ana")
    with pytest.raises(DataError, match="'Lava'.*BigEarthNet"):
        log.commit([Edit("P000001", "add", "Lava")], author="ana")
    with pytest.raises(DataError, match="'Lava'"):
        log.commit([Edit("P000001", "set", labels=(C[0], "Lava"))], author="ana")
    with pytest.raises(DataError, match="unknown edit op 'delete'"):
        log.commit([Edit("P000001", "delete")], author="ana")
    with pytest.raises(DataError, match="author"):
        log.commit([Edit("P000001", "flag")], author="  ")
    with pytest.raises(DataError, match="empty"):
        log.commit([], author="ana")
    assert log.version() == 0 and log.events().empty
    assert not log.current_labels().flagged.any()


def test_read_without_creating(template, tmp_path, where):
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    log = open_log(ws, where, create=False)
    assert log.version() == 0 and not log.current_labels().changed.any() and not log.exists_
    assert not (ws / "edits.sqlite").exists()
    with pytest.raises(WorkspaceError, match="create=False"):
        log.commit([Edit("P000001", "flag")], author="ana")
    # another process creates the log later: a reader opened before picks it up
    open_log(ws, where).commit([Edit("P000001", "flag")], author="ana")
    assert log.current_labels().flagged.sum() == 1


# --------------------------------------------------------------------------------------------- damage
def test_deleted_log_is_a_clear_error_never_a_reset(ws):
    EditLog(ws).commit([Edit("P000001", "flag")], author="ana")
    for f in ws.glob("edits.sqlite*"):
        f.unlink()
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite is missing"):
        EditLog(ws)
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite"):
        EditLog(ws, create=False)
    assert not (ws / "edits.sqlite").exists()  # nothing silently recreated


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_corrupted_log_is_a_clear_error(ws, damage):
    log = EditLog(ws)
    for i in range(20):
        log.commit([Edit(f"P{j:06d}", "flag") for j in range(i * 100, i * 100 + 100)], author="ana")
    log.close()
    del log
    _checkpoint(ws / "edits.sqlite")
    db = ws / "edits.sqlite"
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    elif damage == "empty":
        db.write_bytes(b"")
    else:
        data = db.read_bytes()
        db.write_bytes(data[:100] + b"\0" * (len(data) - 100))  # header kept, pages wiped
    size = db.stat().st_size
    with pytest.raises(WorkspaceError, match=r"edits\.sqlite"):
        EditLog(ws).current_labels()
    assert db.stat().st_size == size  # left as it was, for recovery


def test_a_log_replaced_or_deleted_while_in_use_refuses_instead_of_losing_edits(ws, tmp_path):
    """A backup restored (or the workspace re-ingested) under a running server: its open connections would
    write into the old file and the commit would be lost. It is refused with a message, the restored log is
    left as it was, and a new thread never recreates a deleted log as an empty database."""
    import threading

    log = EditLog(ws)
    log.commit([Edit("P000001", "flag")], author="ana")
    with sqlite3.connect(ws / "edits.sqlite") as src, sqlite3.connect(tmp_path / "backup.sqlite") as dst:
        src.backup(dst)  # the curator's backup
    log.commit([Edit("P000002", "flag")], author="ana")
    os.replace(tmp_path / "backup.sqlite", ws / "edits.sqlite")  # restored while the server runs
    for suffix in ("-wal", "-shm"):  # (a restore drops the old write-ahead log, or SQLite would replay it)
        Path(f"{ws / 'edits.sqlite'}{suffix}").unlink(missing_ok=True)
    with pytest.raises(WorkspaceError, match="replaced while in use"):
        log.commit([Edit("P000003", "flag")], author="ana")
    with pytest.raises(WorkspaceError, match="replaced while in use"):
        log.current_labels()
    fresh = EditLog(ws)  # a restarted server works on the restored log, which nothing wrote to
    assert fresh.version() == 1 and fresh.current_labels().flagged.sum() == 1
    for f in ws.glob("edits.sqlite*"):
        f.unlink()
    errors = []

    def other_thread():  # a server thread with no connection yet
        try:
            fresh.commit([Edit("P000004", "flag")], author="ana")
        except WorkspaceError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert errors and "deleted while in use" in errors[0]
    assert not (ws / "edits.sqlite").exists()  # not silently recreated empty


def test_one_huge_batch_does_not_leave_a_huge_write_ahead_log(ws):
    """After a batch far larger than usual, the next commit cuts edits.sqlite-wal back to 16 MiB instead of
    keeping it at the batch's size for good."""
    log = EditLog(ws)
    log.commit([Edit(f"P{i:06d}", "set", labels=tuple(C[:15])) for i in range(12_000)], author="ana",
               note="a long note " * 200)
    wal = ws / "edits.sqlite-wal"
    assert wal.stat().st_size > 30 << 20
    log.commit([Edit("P000001", "flag")], author="ana")
    assert wal.stat().st_size <= 16 << 20
    assert log.version() == 2 and EditLog(ws).current_labels().flagged.sum() == 1


def test_concurrent_first_edits_on_a_fresh_workspace_all_land(template, tmp_path, where):
    """Several curators' first edits reach a freshly served workspace at once, on different server threads:
    every one is committed (none fails on another thread's half-written edits.json)."""
    import threading

    for r in range(8):
        ws = tmp_path / f"ws{r}"
        shutil.copytree(template, ws)
        log = open_log(ws, _own(where, r), create="on_write")
        start = threading.Barrier(8)
        failures, batches = [], []

        def first_edit(i, log=log, start=start, failures=failures, batches=batches):
            start.wait()
            try:
                batches.append(log.commit([Edit(f"P{i:06d}", "flag")], author=f"curator{i}"))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

        threads = [threading.Thread(target=first_edit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        assert sorted(batches) == list(range(1, 9))
        if where == "sqlite":
            assert json.loads((ws / "edits.json").read_text())["format"] == "eomine-edits"
        assert not list(ws.glob(".edits.json.tmp-*"))


def test_opening_a_log_keeps_the_locks_of_connections_already_open(ws):
    """A server keeps one connection per thread and opens new EditLog objects as it goes, while other processes
    (``eomine score``, a second server) read the log. Opening a log must not drop the POSIX locks of the
    connections already open in this process (closing any descriptor of the file does): when it did, a
    batch committed here vanished from the other process's view and the next query failed with
    "disk I/O error"."""
    reader = [sys.executable, "-c", textwrap.dedent(f"""
        from mining.curation import EditLog
        print(EditLog({str(ws)!r}, create=False).current_labels().version)
        """)]
    log = EditLog(ws)
    for i in range(5):
        log.commit([Edit(f"P{i:06d}", "flag")], author="ana")
        log.current_labels()
        seen = subprocess.run(reader, check=True, cwd=ROOT, capture_output=True, text=True).stdout
        assert int(seen) == log.version() == 2 * i + 1
        assert EditLog(ws).current_labels().version == log.version()
        log.commit([Edit(f"P{100 + i:06d}", "flag")], author="ana")
    assert EditLog(ws).version() == 10
    assert EditLog(ws).current_labels().flagged.sum() == 10


def test_undo_after_restart(ws, where):
    script = textwrap.dedent(f"""
        import sys
        from mining.curation import Edit, open_log
        log = open_log({str(ws)!r}, {where!r})
        if sys.argv[1] == "edit":
            log.commit([Edit("P000050", "set", labels=({C[7]!r},))], author="ana", note="before restart")
        else:
            print(log.undo(author="ana"))
        """)
    run = [sys.executable, "-c", script]
    subprocess.run([*run, "edit"], check=True, cwd=ROOT)
    assert open_log(ws, where).current_labels().labels_of("P000050") == [C[7]]
    out = subprocess.run([*run, "undo"], check=True, cwd=ROOT, capture_output=True, text=True).stdout
    assert out.strip() == "2"
    assert open_log(ws, where).current_labels().labels_of("P000050") == base_labels(ws, "P000050")


# --------------------------------------------------------------------------------------------- real processes
WRITER = """
import sys, time
from mining.curation import Edit, open_log
ws, mode = sys.argv[1], sys.argv[2]
log = open_log(ws)  # $EOMINE_LOG: the storage under test
if mode == "big":  # 10,000-patch batches, forever, until killed
    ids = [f"P{i:06d}" for i in range(10_000)]
    i = 0
    while True:
        print("begin", i, flush=True)
        log.commit([Edit(p, "set", labels=(sys.argv[3 + i % 2],)) for p in ids], author="big", note=f"b{i}")
        print("done", i, flush=True)
        i += 1
else:  # n one-edit batches, numbered
    n = int(sys.argv[3])
    for i in range(n):
        log.commit([Edit(f"P{(i * 7) % 12000:06d}", "flag" if i % 2 else "unflag")], author=mode, note=str(i))
    print("ok", flush=True)
"""


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08, 0.15])
def test_kill_9_during_a_10000_patch_batch_is_all_or_nothing(ws, tmp_path, delay, where):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(ws), "big", C[0], C[1]], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env=_env(where))
    try:
        for line in proc.stdout:  # let two batches commit, then kill while the third is being written
            if line.startswith("begin 2"):
                time.sleep(delay)
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    log = open_log(ws, where)  # "restart": a new process opens the log (SQLite recovers from the WAL)
    h = log.batches()
    ev = log.events()
    counts = ev.groupby("batch").size()
    assert len(h) in (2, 3), "the first two batches were committed before the kill"
    assert (counts.reindex(h["id"]).to_numpy() == 10_000).all(), "a partial batch is visible"
    assert (h["n_events"] == 10_000).all()
    last = C[(len(h) - 1) % 2]
    cur = log.current_labels()
    Y = cur.Y[cur.rows([f"P{i:06d}" for i in range(10_000)])]
    assert Y[:, C.index(last)].all() and Y.sum(1).max() == 1, "every patch carries the last batch's label"
    # the log is still usable after the kill
    log.commit([Edit("P000001", "flag")], author="after")
    assert log.current_labels().flagged.sum() == 1


def test_two_processes_writing_1000_batches_each(ws, tmp_path, where):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = _env(where)
    procs = [subprocess.Popen([sys.executable, str(script), str(ws), name, "1000"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for name in ("one", "two")]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out.strip() == "ok"
    h = open_log(ws, where).batches()
    assert len(h) == 2000 and h["id"].is_monotonic_increasing
    for name in ("one", "two"):
        mine = h[h["author"] == name]
        assert mine["note"].astype(int).tolist() == list(range(1000)), f"{name}'s batches out of order or lost"
    # the two writers interleaved (they really ran at the same time)
    assert (h["author"] != h["author"].shift()).sum() > 2


def _checkpoint(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def test_incremental_refresh_equals_a_full_replay(ws, where):
    """The cached labels updated with only the new batches' events match a fresh log's full replay, through
    random commits, undos and redos (mixed ops on overlapping patches)."""
    rng = np.random.default_rng(5)
    log = open_log(ws, where)
    ops = ["add", "remove", "set", "flag", "unflag", "exclude", "restore", "keep"]
    for step in range(25):
        r = rng.random()
        if r < 0.15:
            log.undo(author="ana" if step % 2 else None)
        elif r < 0.22:
            log.redo()
        else:
            edits = []
            for p in rng.choice(300, 40, replace=False):
                op = ops[rng.integers(len(ops))]
                if op in ("add", "remove"):
                    edits.append(Edit(f"P{p:06d}", op, C[rng.integers(len(C))]))
                elif op == "set":
                    edits.append(Edit(f"P{p:06d}", op, labels=tuple(C[j] for j in rng.integers(0, len(C), 2))))
                else:
                    edits.append(Edit(f"P{p:06d}", op))
            log.commit(edits, author="ana" if step % 3 else "bo")
        inc = log.current_labels()  # refreshed from the previous cached result where possible
        full = open_log(ws, where).current_labels()
        assert inc.version == full.version
        for a in ("Y", "flagged", "excluded", "confirmed"):
            assert np.array_equal(getattr(inc, a), getattr(full, a)), (step, a)


def test_a_log_without_catalog_rows_is_upgraded_in_place(ws):
    log = EditLog(ws)
    log.commit([Edit("P000007", "set", labels=(C[9],)), Edit("P000008", "flag")], author="ana")
    log.close()
    con = sqlite3.connect(ws / "edits.sqlite")
    con.execute("DROP INDEX IF EXISTS events_patch")
    con.execute("ALTER TABLE events DROP COLUMN row")  # as written before events carried the row
    con.execute("CREATE INDEX events_patch ON events(patch_id)")
    con.commit()
    con.close()
    # a reader (create=False: `serve --read-only`, `export`) reads it right and writes nothing
    cur = EditLog(ws, create=False).current_labels()
    assert cur.labels_of("P000007") == [C[9]] and cur.flagged[cur.row("P000008")]
    cols = {r[1] for r in sqlite3.connect(ws / "edits.sqlite").execute("PRAGMA table_info(events)")}
    assert "row" not in cols
    # a writer upgrades it
    cur = EditLog(ws).current_labels()
    assert cur.labels_of("P000007") == [C[9]] and cur.flagged[cur.row("P000008")]
    rows = sqlite3.connect(ws / "edits.sqlite").execute("SELECT row FROM events ORDER BY id").fetchall()
    assert rows == [(7,), (8,)]


def test_an_event_without_its_row_still_counts(ws):
    """An older eomine still running next to this one writes events without the catalog row."""
    log = EditLog(ws)
    log.commit([Edit("P000003", "set", labels=(C[2],))], author="ana")
    log.commit([Edit("P000004", "set", labels=(C[5],))], author="ana")
    log.close()
    con = sqlite3.connect(ws / "edits.sqlite")
    con.execute("UPDATE events SET row = NULL WHERE patch_id = 'P000004'")
    con.commit()
    con.close()
    cur = EditLog(ws, create=False).current_labels()
    assert cur.labels_of("P000003") == [C[2]] and cur.labels_of("P000004") == [C[5]]


def test_a_log_of_another_build_of_the_workspace_is_refused(ws, where):
    open_log(ws, where).commit([Edit("P000001", "flag")], author="ana")
    meta = json.loads((ws / "workspace.json").read_text())
    meta["created"] = "2030-01-01T00:00:00+00:00"  # re-ingested: rows may differ
    (ws / "workspace.json").write_text(json.dumps(meta))
    with pytest.raises(WorkspaceError, match="another build"):
        open_log(ws, where)


# --------------------------------------------------------------------------------------------- request ids
def test_a_duplicate_request_id_commits_once(ws, where):
    log = open_log(ws, where)
    b = log.commit([Edit("P000001", "flag")], author="ana", request_id="req-1")
    with pytest.raises(DuplicateRequest) as err:
        log.commit([Edit("P000001", "flag")], author="ana", request_id="req-1")
    assert err.value.batch == b and err.value.request_id == "req-1"
    assert isinstance(err.value, DataError)  # callers that only know DataError still see a refusal
    with pytest.raises(DuplicateRequest):  # whatever the batch says: the id decides
        open_log(ws, where).commit([Edit("P000002", "exclude")], author="bo", request_id="req-1")
    h = log.batches()
    assert h["id"].tolist() == [b] and h["request_id"].tolist() == ["req-1"]
    assert len(log.events()) == 1 and log.current_labels().excluded.sum() == 0
    # another id, or none at all, commits
    assert log.commit([Edit("P000002", "flag")], author="ana", request_id="req-2") == b + 1
    assert log.commit([Edit("P000003", "flag")], author="ana") == b + 2
    assert log.commit([Edit("P000004", "flag")], author="ana") == b + 3  # None never collides
    assert _ids_of(log.batches()) == ["req-1", "req-2", None, None]
    for bad in ("", "   ", "x" * 201, 7):
        with pytest.raises(DataError, match="request id"):
            log.commit([Edit("P000005", "flag")], author="ana", request_id=bad)
    assert log.version() == b + 3


def test_8_threads_racing_with_one_request_id_make_one_batch(ws, where):
    """A double click or two tabs replaying reach a server on several threads at once: one batch, and every
    other request learns its id."""
    import threading

    shared = open_log(ws, where)
    shared.commit([Edit("P000000", "flag")], author="warm-up")  # the log exists: the race is on the id
    for attempt in range(3):
        rid = f"race-{attempt}"
        start = threading.Barrier(8)
        results, failures = [], []

        def send(i, attempt=attempt, rid=rid, start=start, results=results, failures=failures):
            log = shared if i % 2 else open_log(ws, where)  # the server's one log on its threads, and other handles
            start.wait()
            try:
                results.append(("batch", log.commit([Edit(f"P{100 * attempt + i + 10:06d}", "flag")], author=f"t{i}",
                                                    request_id=rid)))
            except DuplicateRequest as exc:
                results.append(("duplicate", exc.batch))
            except Exception as exc:  # noqa: BLE001 - any other failure is the finding
                failures.append(repr(exc))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
        kinds = sorted(k for k, _ in results)
        assert kinds == ["batch"] + ["duplicate"] * 7
        assert len({b for _, b in results}) == 1, "every duplicate names the one batch"
        h = shared.batches()
        assert (h["request_id"] == rid).sum() == 1
    assert shared.version() == 4 and shared.current_labels().flagged.sum() == 4


RACER = """
import sys, time
from mining.curation import DuplicateRequest, Edit, open_log
ws, rid, at, i = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
log = open_log(ws)  # $EOMINE_LOG: the storage under test
log.version()  # connected before the start
while time.time() < at:
    pass
try:
    print("batch", log.commit([Edit(f"P{i:06d}", "flag")], author=f"p{i}", request_id=rid), flush=True)
except DuplicateRequest as exc:
    print("duplicate", exc.batch, flush=True)
"""


def test_two_processes_racing_with_one_request_id_make_one_batch(ws, tmp_path, where):
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    env = _env(where)
    open_log(ws, where).commit([Edit("P000000", "flag")], author="warm-up")
    attempts = 3 if where == "sqlite" else 1  # (each waits 4 s for both imports: once is the same proof)
    for attempt in range(attempts):
        at = time.time() + 4.0  # both start spinning on the same instant, well after their imports
        procs = [subprocess.Popen([sys.executable, str(script), str(ws), f"proc-race-{attempt}", str(at), str(i)],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for i in (1, 2)]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(out.split())
        assert sorted(o[0] for o in outs) == ["batch", "duplicate"], outs
        assert outs[0][1] == outs[1][1], "the duplicate names the batch the other process wrote"
    h = open_log(ws, where).batches()
    assert len(h) == attempts + 1
    assert h["request_id"].iloc[1:].tolist() == [f"proc-race-{a}" for a in range(attempts)]


def test_undo_with_one_request_id_twice_undoes_once(ws, where):
    log = open_log(ws, where)
    b1 = log.commit([Edit("P000001", "flag")], author="ana")
    b2 = log.commit([Edit("P000002", "flag")], author="ana")
    u = log.undo(author="ana", request_id="undo-1")
    assert u == b2 + 1
    with pytest.raises(DuplicateRequest) as err:
        log.undo(author="ana", request_id="undo-1")  # the retry: b1 stays active
    assert err.value.batch == u
    cur = log.current_labels()
    assert cur.flagged[cur.rows(["P000001", "P000002"])].tolist() == [True, False]
    r = log.redo(author="ana", request_id="redo-1")
    with pytest.raises(DuplicateRequest):
        log.redo(author="ana", request_id="redo-1")
    with pytest.raises(DuplicateRequest):  # an id names one request, whichever action repeats it
        log.undo(author="ana", request_id="redo-1")
    assert log.batches()["kind"].tolist() == ["edit", "edit", "undo", "redo"] and log.version() == r
    # nothing to undo writes nothing, so the id is not spent
    log2 = open_log(ws, where)
    assert log2.undo(author="nobody", request_id="undo-2") is None
    assert log2.commit([Edit("P000003", "flag")], author="ana", request_id="undo-2") == r + 1
    assert log.current_labels().flagged[cur.rows(["P000001", "P000002", "P000003"])].all() and b1 == 1


def _ids_of(batches: pd.DataFrame) -> list:
    return [r if isinstance(r, str) else None for r in batches["request_id"]]


def _as_old_log(db: Path) -> None:
    """Rewrite edits.sqlite as eomine wrote it before batches carried a request id."""
    con = sqlite3.connect(db)
    con.execute("DROP INDEX batches_request")
    con.execute("ALTER TABLE batches DROP COLUMN request_id")
    con.commit()
    con.close()


def _batch_columns(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[1] for r in con.execute("PRAGMA table_info(batches)")}
    finally:
        con.close()


def test_an_old_log_without_request_ids_is_upgraded_and_keeps_every_event(ws):
    log = EditLog(ws)
    log.commit([Edit("P000007", "set", labels=(C[9],)), Edit("P000008", "flag")], author="ana", note="one")
    log.commit([Edit(f"P{i:06d}", "add", C[3]) for i in range(100, 400)], author="bo", note="two")
    log.undo(author="bo")
    log.commit([Edit("P000009", "keep")], author="ana")
    log.close()
    db = ws / "edits.sqlite"
    _as_old_log(db)
    events_before = EditLog(ws, create=False).events()
    assert "request_id" not in _batch_columns(db)
    # a reader reads it as it is and writes nothing
    reader = EditLog(ws, create=False)
    cur0 = reader.current_labels()
    h0 = reader.batches()
    assert h0["request_id"].isna().all() and len(h0) == 4
    assert reader.batch_info(3).reverted.id == 2
    assert "request_id" not in _batch_columns(db)
    card = json.loads((ws / "edits.json").read_text())
    assert card["version"] == 1  # additive: the format (and an older eomine's view of it) is unchanged
    # a writer upgrades it in place, in one transaction, keeping every event
    writer = EditLog(ws)
    assert "request_id" in _batch_columns(db)
    pd.testing.assert_frame_equal(writer.events(), events_before)
    cur = writer.current_labels()
    for a in ("Y", "flagged", "excluded", "confirmed"):
        assert np.array_equal(getattr(cur, a), getattr(cur0, a)), a
    pd.testing.assert_frame_equal(writer.batches().drop(columns="request_id"), h0.drop(columns="request_id"))
    b = writer.commit([Edit("P000010", "flag")], author="ana", request_id="after-upgrade")
    with pytest.raises(DuplicateRequest):
        writer.commit([Edit("P000010", "flag")], author="ana", request_id="after-upgrade")
    assert writer.version() == b == 5
    # the reader opened before the upgrade now sees the request ids too
    assert reader.batches()["request_id"].tolist()[-1] == "after-upgrade"
    # an older eomine writes no request id: its batches read as None beside the new ones
    con = sqlite3.connect(db)
    con.execute("INSERT INTO batches (time, author, kind, target, note, source, n_events) "
                "VALUES ('t', 'old', 'edit', NULL, '', 'app', 0)")
    con.commit()
    con.close()
    assert _ids_of(writer.batches())[-2:] == ["after-upgrade", None]


def test_a_request_id_written_through_a_reader_handle_upgrades_with_the_write(ws):
    EditLog(ws).commit([Edit("P000001", "flag")], author="ana")
    _as_old_log(ws / "edits.sqlite")
    log = EditLog(ws, create=False)  # opened as a reader: no upgrade
    assert "request_id" not in _batch_columns(ws / "edits.sqlite")
    assert log.commit([Edit("P000002", "flag")], author="ana") == 2  # no id: written as before
    assert "request_id" not in _batch_columns(ws / "edits.sqlite")
    assert log.commit([Edit("P000003", "flag")], author="ana", request_id="r") == 3
    with pytest.raises(DuplicateRequest):
        log.commit([Edit("P000003", "flag")], author="ana", request_id="r")
    assert _ids_of(log.batches()) == [None, None, "r"]


# --------------------------------------------------------------------------------------------- batch info
def test_undo_and_redo_name_the_batch_they_revert(ws, where):
    log = open_log(ws, where)
    b = log.commit([Edit(f"P{i:06d}", "add", C[1]) for i in range(120)], author="ana", note="towns")
    info = log.batch_info(b)
    assert (info.kind, info.n_patches, info.target, info.reverted) == ("edit", 120, None, None)
    assert info.summary() == f"Add label {C[1]!r} to 120 patches"
    u = log.undo()
    ui = log.batch_info(u)
    assert (ui.kind, ui.target, ui.reverted.id, ui.reverted.author, ui.reverted.note) == ("undo", b, b, "ana", "towns")
    assert ui.message() == f"Undid batch {b} (Add label {C[1]!r} to 120 patches, ana)"
    r = log.redo()
    ri = log.batch_info(r)
    assert ri.message() == f"Redid batch {b} (Add label {C[1]!r} to 120 patches, ana)"
    # the notes and the history say which batch, as an integer (a float target once gave "batch 1.0")
    h = log.batches()
    assert str(h["target"].dtype) == "Int64" and h["target"].tolist()[1:] == [b, b]
    assert h["note"].tolist()[1:] == [f"undo of batch {b} (Add label {C[1]!r} to 120 patches, ana)",
                                      f"redo of batch {b} (Add label {C[1]!r} to 120 patches, ana)"]
    with pytest.raises(DataError, match="no batch 99"):
        log.batch_info(99)


def test_batch_summaries_in_words(ws, where):
    log = open_log(ws, where)
    cases = [([Edit("P000001", "remove", C[0])], f"Remove label {C[0]!r} from 1 patch"),
             ([Edit("P000001", "set", labels=(C[2], C[1])), Edit("P000002", "set", labels=(C[1], C[2]))],
              f"Set labels to {C[1]!r}, {C[2]!r} on 2 patches"),
             ([Edit("P000001", "set", labels=(C[2],)), Edit("P000002", "set", labels=())], "Set the labels of 2 patches"),
             ([Edit("P000003", "confirm"), Edit("P000004", "keep")], "Confirm 2 patches"),
             ([Edit("P000005", "flag"), Edit("P000006", "flag"), Edit("P000005", "exclude")],
              "Flag 2 patches; Exclude 1 patch")]
    for edits, text in cases:
        assert log.batch_info(log.commit(edits, author="ana")).summary() == text
    # "confirm" is stored as "keep" and counts as the confirmation it is
    assert set(log.events(patch_id="P000003")["op"]) == {"keep"}
    cur = log.current_labels()
    assert cur.confirmed[cur.rows(["P000003", "P000004"])].all()
